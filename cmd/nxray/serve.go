package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/proxy"
)

const serveUsage = `Usage: nxray serve [flags]

Forward every DNS query (UDP and TCP) to the upstreams, answer from a cache,
and explain each NXDOMAIN, SERVFAIL or REFUSED a client receives: in the
background nxray asks the alternates (with and without DNSSEC checking),
walks the delegation from the root hints and asks the zone's own servers,
then logs one "diagnosis" line with the cause.

Signals: SIGINT or SIGTERM drain queries in flight and stop; SIGHUP re-reads
the configuration (upstreams, strategy, timeouts, ACL, log level, and whom the
diagnosis asks) without closing the listeners. Listen addresses and the
diagnosis sizes (--diagnosis-*) change only on restart.

Flags:
`

// serve runs the proxy until a stop signal arrives on sigs.
func serve(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	fs := config.Flags("serve")
	cfg, code, ok := parseAndLoad(fs, args, serveUsage, stdout, stderr)
	if !ok {
		return code
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	eng, err := newEngine(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "nxray:", err)
		return 1
	}
	defer eng.Close()

	metrics := status.NewMetrics()
	pcfg := proxyConfig(cfg, log, newEngineObserver(eng, cfg), eng)
	pcfg.Recorder = metrics // kept across reloads: the proxy reads it from its first config
	srv, err := proxy.New(pcfg)
	if err != nil {
		fmt.Fprintln(stderr, "nxray:", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintln(stderr, "nxray:", err)
		return 1
	}
	st, explainer, err := startStatus(cfg, srv, eng, metrics, log)
	if err != nil {
		srv.Shutdown(context.Background())
		fmt.Fprintln(stderr, "nxray:", err)
		return 1
	}
	defer stopStatus(st, log)
	log.Info("nxray started", "version", version, "listen", addrStrings(srv), "upstreams", upstreamStrings(cfg),
		"strategy", cfg.Strategy, "cache_size", cfg.Cache.Size, "acl", cfg.ACL, "status", statusURL(st))
	return waitAndStop(srv, cfg.Shutdown, log, sigs, func() { cfg = reload(srv, eng, explainer, fs, cfg, level, log) })
}

// waitAndStop handles signals: SIGHUP calls onHUP (when not nil), anything
// else drains queries in flight for up to drain and stops.
func waitAndStop(srv *proxy.Server, drain time.Duration, log *slog.Logger, sigs <-chan os.Signal, onHUP func()) int {
	for sig := range sigs {
		if sig == syscall.SIGHUP && onHUP != nil {
			onHUP()
			continue
		}
		log.Info("stopping", "signal", sig.String(), "drain", drain.String())
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	log.Info("stopped", "queries", srv.Stats().Queries)
	return 0
}

// reload re-reads flags, environment and file; on any error the running
// configuration stays.
func reload(srv *proxy.Server, eng *diagnose.Engine, ex *pageExplainer, fs *pflag.FlagSet, old config.Config, level *slog.LevelVar, log *slog.Logger) config.Config {
	cfg, err := config.Load(fs)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	p, err := newProber(cfg)
	if err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	if err := srv.Reload(proxyConfig(cfg, log, nil, eng)); err != nil {
		log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return old
	}
	eng.SetProber(p)
	if err := ex.set(cfg); err != nil { // cannot fail where newProber above did not
		log.Error("reloading the status page's explain", "error", err.Error())
	}
	lv, _ := config.ParseLevel(cfg.Log.Level)
	level.Set(lv)
	if !slices.Equal(cfg.Listen, old.Listen) {
		log.Warn("listen addresses change only on restart", "running", old.Listen, "configured", cfg.Listen)
		cfg.Listen = old.Listen
	}
	if changed := restartOnly(old.Diagnosis, cfg.Diagnosis); len(changed) > 0 {
		log.Warn("diagnosis sizes change only on restart", "changed", changed)
		cfg.Diagnosis = old.Diagnosis
	}
	log.Info("reloaded", "upstreams", upstreamStrings(cfg), "strategy", cfg.Strategy, "acl", cfg.ACL,
		"log_level", cfg.Log.Level)
	return cfg
}

// parseAndLoad parses flags and loads the configuration. ok is false when
// the command should exit with code (0 after --help).
func parseAndLoad(fs *pflag.FlagSet, args []string, help string, stdout, stderr io.Writer) (config.Config, int, bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stdout, help)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return config.Config{}, 0, false
		}
		fmt.Fprintf(stderr, "nxray: %v\nRun with --help for the flags.\n", err)
		return config.Config{}, 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nxray: unexpected argument %q\n", fs.Arg(0))
		return config.Config{}, 2, false
	}
	cfg, err := config.Load(fs)
	if err != nil {
		fmt.Fprintf(stderr, "nxray: %v\n", err)
		return config.Config{}, 2, false
	}
	return cfg, 0, true
}
