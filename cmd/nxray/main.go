// Command nxray is a local DNS forwarding proxy that explains its failures.
//
//	nxray [serve] [flags]         run the proxy (the default)
//	nxray explain NAME [TYPE]     diagnose one name now
//	nxray demo                    run an offline lab with nxray in front of it
//	nxray health                  ask a running nxray whether it is up
//	nxray flush [NAME]            empty a running nxray's cache, or a name's
//	nxray version                 print the version
//	nxray completion SHELL        print a shell completion script
//
// serve and demo start nxray the same way, through startInstance
// (instance.go): the diagnosis engine, the proxy joined to it by
// internal/adapt, and the status page, all from one config.Config; the
// demo's points at its lab. Nothing else here builds them.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nxray/nxray/internal/version"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sigs))
}

const rootLong = `nxray: a local DNS forwarding proxy that explains its failures.

With no command, or with flags first, nxray runs serve: "nxray --listen
127.0.0.1:5353" is "nxray serve --listen 127.0.0.1:5353". Every configuration
flag has a YAML key (--config FILE) and an NXRAY_* environment variable; flags
beat the environment, which beats the file.`

// exitCode is what a command returns once it has said what went wrong
// itself: run exits with it and prints nothing more.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// Exit codes shared by the commands.
const (
	exitFailure exitCode = 1 // the command ran and failed
	exitUsage   exitCode = 2 // bad flags, arguments or configuration
)

// run executes one command line and returns the process exit code. Any
// error cobra returns itself (an unknown command or flag, wrong arguments)
// is a usage error: 2.
func run(args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) int {
	root := newRoot(stdout, stderr, sigs)
	root.SetArgs(defaultToServe(args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "nxray: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return int(exitUsage)
}

// newRoot builds the command tree for one run: nothing is shared between
// runs, so tests may run several.
func newRoot(stdout, stderr io.Writer, sigs <-chan os.Signal) *cobra.Command {
	root := &cobra.Command{
		Use:           "nxray",
		Short:         "a local DNS forwarding proxy that explains its failures",
		Long:          rootLong,
		Version:       version.Get().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.Flags().SortFlags = false
	root.AddCommand(serveCommand(stderr, sigs), explainCommand(stdout, stderr),
		demoCommand(stdout, stderr, sigs), healthCommand(stdout, stderr), flushCommand(stdout, stderr),
		versionCommand(stdout))
	// cobra's own commands, added here rather than on first use so that
	// their summaries can be worded like the others.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Short = "show the help of a command"
		case "completion":
			c.Short = "print a shell completion script (bash, zsh, fish or powershell)"
		}
	}
	return root
}

// defaultToServe makes "nxray" and "nxray --flags" run serve, as the
// README and the container image's "docker run nxray --upstream ..." expect.
// Help and version flags stay with the root.
func defaultToServe(args []string) []string {
	if len(args) == 0 {
		return []string{"serve"}
	}
	switch args[0] {
	case "-h", "--help", "-v", "--version":
		return args
	}
	if strings.HasPrefix(args[0], "-") {
		return append([]string{"serve"}, args...)
	}
	return args
}

func versionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, VCS revision and Go version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, version.Get().String())
		},
	}
}

// noArgs refuses positional arguments, naming the first.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}

// completeChoices offers the fixed values of the choice flags cmd has to
// shell completion.
func completeChoices(cmd *cobra.Command) {
	choices := map[string][]cobra.Completion{
		"strategy":   {"failover", "parallel", "random"},
		"annotate":   {"off", "cached", "wait:300ms"},
		"log-format": {"text", "json"},
		"log-level":  {"debug", "info", "warn", "error"},
	}
	for name, values := range choices {
		if cmd.Flags().Lookup(name) != nil {
			cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
	}
}
