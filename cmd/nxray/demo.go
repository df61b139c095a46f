package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/proxy"
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

func demo(listen, httpAddr string, stdout, stderr io.Writer, sigs <-chan os.Signal) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
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
	upstream := h.Resolvers[lab.RoleValidating]
	alternates := []string{h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]}
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{upstream}, Alternates: alternates,
		RootHints: h.RootHints, AuthPort: h.Port, TrustAnchors: h.TrustAnchors, Timeout: 500 * time.Millisecond})
	if err != nil {
		return demoFailed(stderr, err)
	}
	eng, err := diagnose.New(diagnose.Config{Prober: p, Logger: log})
	if err != nil {
		return demoFailed(stderr, err)
	}
	defer eng.Close()
	metrics := status.NewMetrics()
	srv, err := startDemoProxy(listen, upstream, log, adapt.Observer(eng, upstream), eng, metrics)
	if err != nil {
		return demoFailed(stderr, err)
	}
	st, err := startDemoStatus(httpAddr, eng, srv, metrics, p, upstream, log)
	if err != nil {
		srv.Shutdown(context.Background())
		return demoFailed(stderr, err)
	}
	defer stopStatus(st, log)
	log.Info("status page", "url", st.URL())
	addr := srv.Addrs()[0].String()
	printDemo(stdout, h, addr, alternates, anchors, st.URL())
	askOnce(addr)
	waitAndStop(srv, func() time.Duration { return 2 * time.Second }, log, sigs, nil)
	return nil
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
	fmt.Fprintf(w, "\nnxray demo: status page at %s (diagnoses appear there live; JSON at %sapi/v1/diagnoses, metrics at %smetrics)\n",
		statusURL, statusURL, statusURL)
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

// startDemoProxy puts nxray in front of the lab, annotating failures and
// holding the first failing answer up to a second for its diagnosis.
func startDemoProxy(listen, upstream string, log *slog.Logger, obs proxy.Observer, ann proxy.Annotator, rec proxy.Recorder) (*proxy.Server, error) {
	cfg := proxy.Config{
		Upstreams: []proxy.Upstream{{Net: "udp", Addr: upstream}},
		// No failover: the lab's answers are the point; show them as they are.
		Timeout: 3 * time.Second, Deadline: 4 * time.Second,
		ACL:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Cache:  proxy.CacheConfig{Size: 1000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour, ServfailTTL: 5 * time.Second},
		Logger: log, Observer: obs, Annotator: ann, AnnotateWait: time.Second, Recorder: rec,
	}
	for _, addr := range []string{listen, "127.0.0.1:0"} {
		cfg.Listen = []string{addr}
		srv, err := proxy.New(cfg)
		if err != nil {
			return nil, err
		}
		if err := srv.Start(); err == nil {
			return srv, nil
		} else if addr != listen {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no loopback port free")
}
