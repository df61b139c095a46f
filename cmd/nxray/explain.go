package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
)

const explainLong = `Diagnose one name now, without a running proxy: ask the upstream, the
alternates (with and without DNSSEC checking), walk the delegation from the
root hints and ask every server of the zone, then print the cause, a summary,
the advice and the evidence. A name that resolves is checked too: a lame or
dead server in its NS set, or parent and child NS sets that differ, is named.
TYPE defaults to A. The configuration file and NXRAY_* environment apply as
for serve (listen addresses are never probed); the flags below override them.

Exit status:
  0  healthy: the name resolves and its delegation and servers look right
  1  a fault was found (any cause but healthy and unknown, nxdomain_confirmed
     included)
  2  bad arguments, flags or configuration
  3  unknown: nothing nxray checked explains what it saw`

// explainBudget bounds the probes of one explain run.
const explainBudget = 200

// exitUnknown is explain's status when it could not tell.
const exitUnknown exitCode = 3

func explainCommand(stdout, stderr io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain NAME [TYPE] [flags]",
		Short: "diagnose one name now and print the cause, advice and evidence",
		Long:  explainLong,
		Example: "  nxray explain www.example.com\n" +
			"  nxray explain example.com MX --upstream 192.0.2.53 --json",
		Args: func(_ *cobra.Command, args []string) error {
			_, _, err := explainArgs(args)
			return err
		},
		ValidArgsFunction: completeType,
	}
	cmd.Flags().SortFlags = false
	config.ExplainFlags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the verdict as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return explain(cmd.Flags(), args, asJSON, stdout, stderr)
	}
	return cmd
}

// explain runs one diagnosis and prints it; its exit status says what it
// found.
func explain(fs *pflag.FlagSet, args []string, asJSON bool, stdout, stderr io.Writer) error {
	name, qt, _ := explainArgs(args) // checked by the command's Args
	cfg, err := loadConfig(fs, stderr)
	if err != nil {
		return err
	}
	p, err := newProber(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "nxray:", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := runExplain(ctx, p, explainUpstream(cfg, name), cfg.Timeout, name, qt)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	} else {
		printVerdict(stdout, v)
	}
	return verdictStatus(v.Cause)
}

// verdictStatus is explain's exit status for a cause: nil (0) when healthy.
func verdictStatus(c diagnose.Cause) error {
	switch c {
	case diagnose.Healthy:
		return nil
	case diagnose.Unknown:
		return exitUnknown
	}
	return exitFailure
}

// completeType offers record types for TYPE, after NAME.
func completeType(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) != 1 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"A", "AAAA", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NS", "PTR", "SOA", "SRV", "SVCB", "TXT"},
		cobra.ShellCompDirectiveNoFileComp
}

// explainArgs reads NAME [TYPE].
func explainArgs(args []string) (string, uint16, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", 0, errors.New("want NAME [TYPE], as in: nxray explain www.example.com AAAA")
	}
	name := dns.Fqdn(args[0])
	if _, ok := dns.IsDomainName(name); !ok || len(name) > 255 {
		return "", 0, fmt.Errorf("%q is not a domain name", args[0])
	}
	qt := dns.TypeA
	if len(args) == 2 {
		t, ok := dns.StringToType[strings.ToUpper(args[1])]
		if !ok {
			return "", 0, fmt.Errorf("%q is not a record type such as A, AAAA, MX or TXT", args[1])
		}
		qt = t
	}
	return name, qt, nil
}

// runExplain is one explain run within the explain budget.
func runExplain(ctx context.Context, p diagnose.Prober, up string, timeout time.Duration, name string, qt uint16) diagnose.Verdict {
	return diagnose.Explain(ctx, p, up, timeout, name, qt, explainBudget)
}

func printVerdict(w io.Writer, v diagnose.Verdict) {
	fmt.Fprintf(w, "%s %s: %s (upstream %s answered %s)\n\n", v.Name, v.Qtype, v.Cause, v.Upstream, v.Rcode)
	fmt.Fprintf(w, "%s\n\nAdvice: %s\n\nEvidence (%d probes, %d ms):\n", v.Summary, v.Advice, len(v.Evidence), v.DurationMS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tROLE\tQUERY\tRCODE\tAA\tANSWERS\tRTT\tEDE\tERROR")
	for _, e := range v.Evidence {
		rcode, aa, rtt := e.Rcode, "", fmt.Sprintf("%.1fms", e.RTTms)
		if rcode == "" {
			rcode, rtt = "-", "-"
		}
		if e.AA {
			aa = "aa"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Server, e.Role, e.Query, rcode, aa, e.Answers,
			rtt, edeList(e.EDE), e.Error)
	}
	tw.Flush()
}

func edeList(codes []uint16) string {
	var s []string
	for _, c := range codes {
		s = append(s, fmt.Sprint(c))
	}
	return strings.Join(s, ",")
}
