package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	neturl "net/url"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
)

const healthLong = `Ask a running nxray whether it is up, for a container's HEALTHCHECK (the
image has no curl): GET /healthz on the status page at the configured http
address (--http, NXRAY_HTTP or the file's http key, as serve reads them; an
unspecified address such as 0.0.0.0 means loopback) and expect 200 "ok".
With --dns, also ask the first listen address for ". NS" over UDP: any
answer counts, REFUSED included. With --dns and the status page off, only
DNS is checked. Each check has 2 seconds.

health reads the configuration file and NXRAY_* environment as serve does,
and validates it, but cannot see the flags serve was started with: give it
the same --config, or configure serve through the environment.

Exit status: 0 healthy; 1 not, with one line on stderr saying why (nothing
answered, the status page is off and --dns was not given, or the
configuration does not load); 2 only for an unknown flag or an argument.`

// healthTimeout bounds each check of nxray health.
const healthTimeout = 2 * time.Second

func healthCommand(stdout, stderr io.Writer) *cobra.Command {
	var withDNS bool
	cmd := &cobra.Command{
		Use:     "health [flags]",
		Short:   "check that a running nxray answers (for container health checks)",
		Long:    healthLong,
		Example: `  HEALTHCHECK CMD ["/nxray", "health"]`,
		Args:    noArgs,
	}
	cmd.Flags().SortFlags = false
	config.HealthFlags(cmd.Flags())
	cmd.Flags().Lookup("http").Usage = "the status page address serve has; empty: it is off"
	cmd.Flags().Lookup("listen").Usage = "the listen addresses serve has; --dns asks the first"
	cmd.Flags().BoolVar(&withDNS, "dns", false, `also ask the first listen address for ". NS" over UDP`)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return health(cmd.Flags(), withDNS, stdout, stderr)
	}
	return cmd
}

// health runs the checks and says which failed.
func health(fs *pflag.FlagSet, withDNS bool, stdout, stderr io.Writer) error {
	// Only http and listen matter here: the rest of the configuration is
	// serve's to check, and an upstream health never asks is no reason for
	// the container to be called unhealthy.
	cfg, err := config.LoadUnchecked(fs)
	if err != nil {
		fmt.Fprintf(stderr, "nxray health: %v (health reads the file and NXRAY_* environment as serve does, not serve's flags)\n",
			strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitFailure
	}
	if cfg.HTTP == "" && !withDNS {
		fmt.Fprintln(stderr, `nxray health: the status page is off (http is ""): nothing to ask; `+
			`set --http (or NXRAY_HTTP) as serve has it, or check DNS with --dns`)
		return exitFailure
	}
	ctx := context.Background()
	if cfg.HTTP != "" {
		url, err := healthURL(cfg.HTTP)
		if err == nil {
			err = checkHTTP(ctx, url)
		}
		if err != nil {
			fmt.Fprintln(stderr, "nxray health:", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "ok: %s\n", url)
	}
	if withDNS {
		addr, err := "", errors.New("no listen address to ask")
		if len(cfg.Listen) > 0 {
			addr, err = dialable(cfg.Listen[0])
		}
		if err == nil {
			err = checkDNS(ctx, addr)
		}
		if err != nil {
			fmt.Fprintln(stderr, "nxray health:", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "ok: dns %s\n", addr)
	}
	return nil
}

// dialable turns a listen address into one to send to: an unspecified
// address is loopback of its family. Port 0 has no fixed port to find.
func dialable(listen string) (string, error) {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", listen, err)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("address %s has port 0, a free port picked at start: give the port serve printed", listen)
	}
	a := ap.Addr()
	switch {
	case a.IsUnspecified() && a.Is4():
		a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case a.IsUnspecified():
		a = netip.IPv6Loopback()
	}
	return netip.AddrPortFrom(a, ap.Port()).String(), nil
}

// healthURL is the /healthz address of the status page at addr.
func healthURL(addr string) (string, error) {
	hp, err := dialable(addr)
	if err != nil {
		return "", fmt.Errorf("status page: %w", err)
	}
	return "http://" + hp + "/healthz", nil
}

// checkHTTP wants 200 "ok" from url within healthTimeout. It goes direct:
// an HTTP_PROXY in the environment would ask someone else.
func checkHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: no answer within %s", url, healthTimeout)
		}
		var uerr *neturl.Error
		if errors.As(err, &uerr) { // it repeats the method and URL
			err = uerr.Err
		}
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("%s answered %s %q, want 200 \"ok\"", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// checkDNS wants any answer to ". NS" from addr over UDP within
// healthTimeout.
func checkDNS(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	q := new(dns.Msg).SetQuestion(".", dns.TypeNS)
	c := &dns.Client{Net: "udp", Timeout: healthTimeout}
	if _, _, err := c.ExchangeContext(ctx, q, addr); err != nil {
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			return fmt.Errorf("dns %s: no answer to . NS within %s", addr, healthTimeout)
		}
		return fmt.Errorf("dns %s: %w", addr, err)
	}
	return nil
}
