package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/internal/version"
	"github.com/nxray/nxray/proxy"
)

const serveLong = `Forward every DNS query (UDP and TCP) to the upstreams, answer from a cache,
and explain each NXDOMAIN, SERVFAIL or REFUSED a client receives: in the
background nxray asks the alternates (with and without DNSSEC checking),
walks the delegation from the root hints and asks the zone's own servers,
then logs one "diagnosis" line with the cause. serve is what nxray runs
with no command.

Signals: SIGINT or SIGTERM drain queries in flight and stop; SIGHUP re-reads
the configuration (upstreams, strategy, timeout, ACL, annotate, log level and
queries, shutdown_timeout, and whom the diagnosis asks) without closing the
listeners. Settings marked "changes on restart" (and deadline, max_inflight,
max_udp_size, cache.*, tcp.*, http_hosts) keep their running values; a reload
that changes them logs a warning naming each one.

Exit status: 0 after a signal stopped it, 1 when it could not start (a port
in use, say), 2 for a bad flag or configuration.`

func serveCommand(stderr io.Writer, sigs <-chan os.Signal) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "forward DNS queries, cache answers and explain failures (the default command)",
		Long:  serveLong,
		Args:  noArgs,
	}
	cmd.Flags().SortFlags = false
	config.ServeFlags(cmd.Flags())
	completeChoices(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return serve(cmd.Flags(), stderr, sigs) }
	return cmd
}

// serve runs the proxy until a stop signal arrives on sigs.
func serve(fs *pflag.FlagSet, stderr io.Writer, sigs <-chan os.Signal) error {
	cfg, err := loadConfig(fs, stderr)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level, stderr)
	eng, err := newEngine(cfg, log)
	if err != nil {
		return failed(stderr, err)
	}
	defer eng.Close()

	metrics := status.NewMetrics()
	pcfg := proxyConfig(cfg, log, newEngineObserver(eng, cfg), eng)
	pcfg.Recorder = metrics // kept across reloads: the proxy reads it from its first config
	srv, err := proxy.New(pcfg)
	if err != nil {
		return failed(stderr, err)
	}
	if err := srv.Start(); err != nil {
		return failed(stderr, err)
	}
	st, explainer, err := startStatus(cfg, srv, eng, metrics, log)
	if err != nil {
		srv.Shutdown(context.Background())
		return failed(stderr, err)
	}
	defer stopStatus(st, log)
	vi := version.Get()
	log.Info("nxray started", "version", vi.Version, "revision", vi.Revision, "listen", addrStrings(srv),
		"upstreams", upstreamStrings(cfg), "strategy", cfg.Strategy, "cache_size", cfg.Cache.Size, "acl", cfg.ACL,
		"status", statusURL(st))
	drain := func() time.Duration { return cfg.Shutdown }
	waitAndStop(srv, drain, log, sigs, func() { cfg = reload(srv, eng, explainer, fs, cfg, level, log) })
	return nil
}

// failed reports an error that stopped a command and returns exit status 1.
func failed(stderr io.Writer, err error) error {
	fmt.Fprintln(stderr, "nxray:", err)
	return exitFailure
}

// loadConfig loads the configuration from fs, the environment and the file;
// an error is reported and becomes exit status 2.
func loadConfig(fs *pflag.FlagSet, stderr io.Writer) (config.Config, error) {
	cfg, err := config.Load(fs)
	if err != nil {
		fmt.Fprintln(stderr, "nxray:", err)
		return config.Config{}, exitUsage
	}
	return cfg, nil
}

// waitAndStop handles signals: SIGHUP calls onHUP (when not nil), anything
// else drains queries in flight for up to drain() and stops.
func waitAndStop(srv *proxy.Server, drain func() time.Duration, log *slog.Logger, sigs <-chan os.Signal, onHUP func()) {
	for sig := range sigs {
		if sig == syscall.SIGHUP && onHUP != nil {
			onHUP()
			continue
		}
		log.Info("stopping", "signal", sig.String(), "drain", drain().String())
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	log.Info("stopped", "queries", srv.Stats().Queries)
}
