// Command nxray is a local DNS forwarding proxy that explains its failures.
//
//	nxray [serve] [flags]   run the proxy (the default)
//	nxray demo              run an offline lab with nxray in front of it
//	nxray version           print the version
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

const usage = `nxray: a local DNS forwarding proxy that explains its failures.

Usage:
  nxray [serve] [flags]   forward DNS queries (UDP and TCP), cache answers, report failures
  nxray explain NAME [TYPE] [flags]
                          diagnose one name now and print the cause, advice and evidence
  nxray demo [flags]      start an offline lab resolver with nxray in front of it, on loopback
  nxray version           print the version

Run "nxray serve --help" for the flags. Every flag has a YAML key (--config FILE)
and an NXRAY_* environment variable; flags beat the environment, which beats the file.
`

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr, sigs)
	case "demo":
		return demo(args, stdout, stderr, sigs)
	case "explain":
		return explain(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "nxray", versionString())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "nxray: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
