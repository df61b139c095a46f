package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/proxy"
)

const demoUsage = `Usage: nxray demo [flags]

Start an offline lab resolver for the zone nxray.test and nxray in front of it,
both on loopback only, and print dig commands to try. Ctrl-C stops both.

Flags:
`

func demo(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5353", "address for nxray (a free port is picked when this one is taken)")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stdout, demoUsage); fs.SetOutput(stdout); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	level := new(slog.LevelVar)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	res, err := lab.StartResolver()
	if err != nil {
		fmt.Fprintln(stderr, "nxray demo:", err)
		return 1
	}
	defer res.Close()
	obs := proxy.NewLogObserver(log, 64)
	defer obs.Close()
	srv, err := startDemoProxy(*listen, res.Addr(), log, obs)
	if err != nil {
		fmt.Fprintln(stderr, "nxray demo:", err)
		return 1
	}
	host, port, _ := net.SplitHostPort(srv.Addrs()[0].String())
	fmt.Fprintf(stdout, "nxray demo: nxray listens on %s (UDP and TCP), forwarding to the lab resolver at %s.\n",
		srv.Addrs()[0], res.Addr())
	fmt.Fprintf(stdout, "Failures are logged on stderr as \"failure\" lines. Try:\n\n")
	for _, sc := range lab.Scenarios {
		fmt.Fprintf(stdout, "  dig @%s -p %s %s %s\n      %s\n", host, port, sc.Name, sc.Type, sc.What)
	}
	fmt.Fprintf(stdout, "\nCtrl-C stops the demo.\n")
	return waitAndStop(srv, 2*time.Second, log, sigs, nil)
}

func startDemoProxy(listen, upstream string, log *slog.Logger, obs proxy.Observer) (*proxy.Server, error) {
	cfg := proxy.Config{
		Upstreams:      []proxy.Upstream{{Net: "udp", Addr: upstream}},
		FailoverRcodes: nil, // the lab's answers are the point: show them as they are
		ACL:            []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Cache:          proxy.CacheConfig{Size: 1000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour, ServfailTTL: 5 * time.Second},
		Logger:         log,
		Observer:       obs,
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
