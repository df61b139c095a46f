package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/internal/status"
)

const demoLong = `Start an offline lab on loopback (a signed private root, the TLD test., a zone
per kind of fault and real-behaving resolvers), put nxray in front of the lab's
validating resolver, ask each broken name once so the diagnosis engine has
verdicts, and print dig and nxray explain commands to try. Failing answers
carry nxray's explanation as an Extended DNS Error (annotate wait:1s). The
status page (127.0.0.1:8053, or a free port) shows the diagnoses live.
Ctrl-C stops it. Nothing leaves 127.0.0.0/8.`

// demoScenario is one lab name and what it shows.
type demoScenario struct {
	name, role, what string
}

var demoScenarios = []demoScenario{
	{"www.ok.test.", lab.RoleValidating, "healthy (ask twice: the second answer comes from nxray's cache)"},
	{"nothere.ok.test.", lab.RoleValidating, "nxdomain_confirmed: the name does not exist"},
	{"www.dsmismatch.test.", lab.RoleValidating, "dnssec_bogus: the DS at the parent matches no DNSKEY"},
	{"www.expired.test.", lab.RoleValidating, "dnssec_expired: the zone's signatures expired"},
	{"www.lame.test.", lab.RoleValidating, "lame_delegation: the listed server refuses the zone"},
	{"www.dead.test.", lab.RoleValidating, "authoritative_unreachable: nothing answers at the listed address"},
	{"www.partial.test.", lab.RoleValidating, "partial_authoritative_outage (explain): one of two servers is dead"},
	{"www.nsmismatch.test.", lab.RoleValidating, "lame_delegation (explain): parent and child NS sets differ"},
	{"blocked.ok.test.", lab.RoleFiltering, "resolver_filtering: a resolver blocks a name that exists"},
	{"new.ok.test.", lab.RoleStale, "stale_negative_cache: a resolver still has an old NXDOMAIN"},
	{"www.ok.test.", lab.RoleRefusing, "upstream_refused: a resolver that refuses everyone"},
}

func demoCommand(stdout, stderr io.Writer, sigs <-chan os.Signal) *cobra.Command {
	var listen, httpAddr string
	cmd := &cobra.Command{
		Use:   "demo [flags]",
		Short: "start an offline lab resolver with nxray in front of it, on loopback",
		Long:  demoLong,
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return demo(listen, httpAddr, stdout, stderr, sigs)
		},
	}
	cmd.Flags().SortFlags = false
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5353", "address for nxray (a free port is picked when this one is taken)")
	cmd.Flags().StringVar(&httpAddr, "http", status.DefaultAddr, "loopback address for the status page (a free port is picked when this one is taken)")
	return cmd
}

// demo starts the lab and nxray in front of it, through startInstance as
// serve does, and runs until a stop signal.
func demo(listen, httpAddr string, stdout, stderr io.Writer, sigs <-chan os.Signal) error {
	h, err := lab.StartHierarchy()
	if err != nil {
		return demoFailed(stderr, err)
	}
	defer h.Close()
	dir, err := os.MkdirTemp("", "nxray-demo-")
	if err != nil {
		return demoFailed(stderr, err)
	}
	defer os.RemoveAll(dir)
	anchors, err := h.WriteTrustAnchors(dir)
	if err != nil {
		return demoFailed(stderr, err)
	}
	cfg := demoConfig(h, anchors, listen, httpAddr)
	in, err := startDemo(&cfg, stderr)
	if err != nil {
		return demoFailed(stderr, err)
	}
	if in.page != nil {
		in.log.Info("status page", "url", in.page.URL())
	}
	addr := in.srv.Addrs()[0].String()
	printDemo(stdout, h, addr, cfg.Alternates, anchors, statusURL(in.page))
	askOnce(addr)
	in.waitAndStop(func() time.Duration { return cfg.Shutdown }, sigs, nil)
	return nil
}

// demoConfig is serve's configuration for the lab h: nxray on listen in
// front of the lab's validating resolver, diagnosing through both lab
// resolvers, the lab's root and trust anchors (in the file anchors), and
// its port; loopback clients only; each failing answer held up to a second
// for its diagnosis; the status page on httpAddr. The rest is
// config.Default's.
func demoConfig(h *lab.Hierarchy, anchors, listen, httpAddr string) config.Config {
	cfg := config.Default()
	cfg.Listen = []string{listen}
	cfg.Upstreams = []string{h.Resolvers[lab.RoleValidating]}
	cfg.Alternates = []string{h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]}
	cfg.RootHints = strings.Join(h.RootHints, ",")
	cfg.TrustAnchors = anchors
	cfg.AuthPort = h.Port
	cfg.HTTP = httpAddr
	cfg.ACL = []string{"127.0.0.0/8", "::1/128"}
	// No failover: the lab's answers are the point; show them as they are.
	cfg.FailoverRcodes = nil
	cfg.Timeout, cfg.Deadline = 3*time.Second, 4*time.Second
	cfg.Annotate = "wait:1s"
	cfg.Shutdown = 2 * time.Second
	// The demo's history lives and dies with it, beside its trust
	// anchors: it never writes into the user's.
	cfg.History.Path = filepath.Join(filepath.Dir(anchors), "history.db")
	return cfg
}

// demoFallback is where the demo listens, for DNS or the status page, when
// the address asked for is taken.
const demoFallback = "127.0.0.1:0"

// startDemo validates cfg and starts nxray from it. A listen or status page
// address in use is replaced in cfg by a free loopback port, each once.
func startDemo(cfg *config.Config, stderr io.Writer) (*instance, error) {
	for {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		in, err := startInstance(*cfg, stderr)
		if err == nil {
			return in, nil
		}
		var page *pageInUse
		switch {
		case errors.As(err, &page) && cfg.HTTP != demoFallback:
			cfg.HTTP = demoFallback
		case page == nil && errors.Is(err, syscall.EADDRINUSE) && cfg.Listen[0] != demoFallback:
			cfg.Listen = []string{demoFallback}
		default:
			return nil, err
		}
	}
}

func demoFailed(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "nxray demo:", err)
	return exitFailure
}

func printDemo(w io.Writer, h *lab.Hierarchy, addr string, alternates []string, anchors string, statusURL string) {
	host, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, "nxray demo: nxray listens on %s (UDP and TCP), forwarding to the lab's validating resolver %s.\n",
		addr, h.Resolvers[lab.RoleValidating])
	fmt.Fprintf(w, "Each failure below has been asked once; its diagnosis is logged on stderr and rides on\n")
	fmt.Fprintf(w, "the answer as an Extended DNS Error (the EDE line of dig's output). Try:\n\n")
	for _, sc := range demoScenarios {
		if sc.role == lab.RoleValidating {
			fmt.Fprintf(w, "  dig @%s -p %s %s\n      %s\n", host, port, sc.name, sc.what)
		}
	}
	fmt.Fprintf(w, "\nExplain any lab name from another terminal while the demo runs, for example:\n\n")
	labFlags := fmt.Sprintf("--alternate %s --root-hints %s --auth-port %d --trust-anchors %s", strings.Join(alternates, ","),
		strings.Join(h.RootHints, ","), h.Port, anchors)
	for _, sc := range demoScenarios {
		if sc.role != lab.RoleValidating || strings.Contains(sc.what, "(explain)") {
			fmt.Fprintf(w, "  go run ./cmd/nxray explain %s --upstream %s %s\n      %s\n", sc.name, h.Resolvers[sc.role], labFlags, sc.what)
		}
	}
	if statusURL != "" {
		fmt.Fprintf(w, "\nnxray demo: status page at %s (diagnoses appear there live; JSON at %sapi/v1/diagnoses, metrics at %smetrics)\n",
			statusURL, statusURL, statusURL)
	}
	fmt.Fprintf(w, "\nCtrl-C stops the demo.\n")
}

// askOnce sends each failing demo name through nxray, so the engine has
// something to explain before anyone types a command.
func askOnce(addr string) {
	c := &dns.Client{Timeout: 5 * time.Second}
	for _, sc := range demoScenarios {
		if sc.role != lab.RoleValidating {
			continue
		}
		q := new(dns.Msg).SetQuestion(sc.name, dns.TypeA)
		q.SetEdns0(1232, false)
		c.ExchangeContext(context.Background(), q, addr)
	}
}
