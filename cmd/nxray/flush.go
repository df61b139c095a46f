package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
)

const flushLong = `Empty the cache of a running nxray, so that the next query goes upstream:
after fixing a zone, no one waits out a negative TTL at nxray. With NAME,
flush the answers of NAME and of every name under it (a zone), every type,
positive and negative; without, flush everything.

flush asks the running nxray's status page (POST /api/v1/cache/flush) at the
configured http address (--http, NXRAY_HTTP or the file's http key, as serve
reads them; an unspecified address such as 0.0.0.0 means loopback), with its
token when it has one (--http-token, NXRAY_HTTP_TOKEN or the file's
http_token). It reads the configuration file and NXRAY_* environment as serve
does, but cannot see the flags serve was started with: give it the same
--config, or the same --http and --http-token.

Exit status: 0 flushed; 1 not, with one line on stderr saying why (nothing
answers at the address, the token is missing or wrong, the status page is
off); 2 for a bad flag or a NAME that is not a domain name.`

// flushTimeout bounds nxray flush's request.
const flushTimeout = 5 * time.Second

func flushCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flush [NAME] [flags]",
		Short: "empty a running nxray's cache: all of it, or a name and every name under it",
		Long:  flushLong,
		Example: `  nxray flush                      # everything
  nxray flush broken.example.com   # that name and every name under it
  nxray flush --http 127.0.0.1:8053 --http-token "$TOKEN" example.com`,
		Args: cobra.MaximumNArgs(1),
	}
	cmd.Flags().SortFlags = false
	config.FlushFlags(cmd.Flags())
	cmd.Flags().Lookup("http").Usage = "the status page address serve has"
	cmd.Flags().Lookup("http-token").Usage = "the status page's token, when serve has one (or NXRAY_HTTP_TOKEN)"
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		return flush(cmd.Flags(), name, stdout, stderr)
	}
	return cmd
}

// flush asks the running nxray to flush name ("" for everything) and says
// how many answers went.
func flush(fs *pflag.FlagSet, name string, stdout, stderr io.Writer) error {
	if name != "" {
		fq := dns.Fqdn(strings.TrimSpace(name))
		if _, ok := dns.IsDomainName(fq); !ok || len(fq) > 255 || strings.ContainsAny(fq, " \t\r\n") {
			fmt.Fprintf(stderr, "nxray flush: %q is not a domain name\n", name)
			return exitUsage
		}
		name = fq
	}
	cfg, err := config.LoadUnchecked(fs)
	if err != nil {
		fmt.Fprintf(stderr, "nxray flush: %v (flush reads the file and NXRAY_* environment as serve does, not serve's flags)\n",
			strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitFailure
	}
	if cfg.HTTP == "" {
		fmt.Fprintln(stderr, `nxray flush: the status page is off (http is ""), and flush asks nxray through it: `+
			`set --http (or NXRAY_HTTP) as serve has it`)
		return exitFailure
	}
	hp, err := dialable(cfg.HTTP)
	if err != nil {
		fmt.Fprintln(stderr, "nxray flush: status page:", err)
		return exitFailure
	}
	u := "http://" + hp + "/api/v1/cache/flush"
	if name != "" {
		u += "?" + neturl.Values{"name": {name}}.Encode()
	}
	n, err := postFlush(context.Background(), u, cfg.HTTPToken)
	if err != nil {
		fmt.Fprintln(stderr, "nxray flush:", err)
		return exitFailure
	}
	if name == "" {
		fmt.Fprintf(stdout, "flushed %d cached %s: everything\n", n, answers(n))
	} else {
		fmt.Fprintf(stdout, "flushed %d cached %s of %s and the names under it\n", n, answers(n), name)
	}
	return nil
}

func answers(n int) string {
	if n == 1 {
		return "answer"
	}
	return "answers"
}

// postFlush sends the flush to url, with token when it is set, and returns
// how many answers went. It goes direct: an HTTP_PROXY in the environment
// would ask someone else.
func postFlush(ctx context.Context, url, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, fmt.Errorf("%s: no answer within %s", url, flushTimeout)
		case errors.Is(err, syscall.ECONNREFUSED):
			return 0, fmt.Errorf("nothing answers at %s: is nxray running, with its status page there? "+
				"(give --http as serve has it)", url)
		}
		var uerr *neturl.Error
		if errors.As(err, &uerr) { // it repeats the method and URL
			err = uerr.Err
		}
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	var body struct {
		Flushed *int   `json:"flushed"`
		Error   string `json:"error"`
	}
	derr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusUnauthorized && token == "":
		return 0, fmt.Errorf("%s answered %s: the status page has a token; give it with --http-token or NXRAY_HTTP_TOKEN", url, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized:
		return 0, fmt.Errorf("%s answered %s: the token given (--http-token, NXRAY_HTTP_TOKEN or http_token) is not the status page's", url, resp.Status)
	case resp.StatusCode != http.StatusOK && body.Error != "":
		return 0, fmt.Errorf("%s answered %s: %s", url, resp.Status, body.Error)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("%s answered %s: is that nxray's status page?", url, resp.Status)
	case derr != nil || body.Flushed == nil:
		return 0, fmt.Errorf("%s answered 200 without a count of answers flushed: is that nxray's status page?", url)
	}
	return *body.Flushed, nil
}
