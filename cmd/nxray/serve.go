package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
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

// serve runs nxray until a stop signal arrives on sigs; SIGHUP reloads the
// configuration.
func serve(fs *pflag.FlagSet, stderr io.Writer, sigs <-chan os.Signal) error {
	cfg, err := loadConfig(fs, stderr)
	if err != nil {
		return err
	}
	in, err := startInstance(cfg, stderr)
	if err != nil {
		return failed(stderr, err)
	}
	drain := func() time.Duration { return cfg.Shutdown }
	in.waitAndStop(drain, sigs, func() { cfg = in.reload(fs, cfg) })
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
