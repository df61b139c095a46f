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
	"github.com/spf13/pflag"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
)

const explainUsage = `Usage: nxray explain NAME [TYPE] [flags]

Diagnose one name now, without a running proxy: ask the upstream, the
alternates (with and without DNSSEC checking), walk the delegation from the
root hints and ask every server of the zone, then print the cause, a summary,
the advice and the evidence. A name that resolves is checked too: a lame or
dead server in its NS set, or parent and child NS sets that differ, is named.
TYPE defaults to A. Takes the same flags and configuration file as serve.

Flags:
`

// explainBudget bounds the probes of one explain run.
const explainBudget = 200

func explain(args []string, stdout, stderr io.Writer) int {
	fs := config.Flags("explain")
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stdout, explainUsage); fs.SetOutput(stdout); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "nxray: %v\nRun nxray explain --help for the flags.\n", err)
		return 2
	}
	name, qt, err := explainArgs(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "nxray explain: %v\n", err)
		return 2
	}
	cfg, err := config.Load(fs)
	if err != nil {
		fmt.Fprintf(stderr, "nxray: %v\n", err)
		return 2
	}
	p, err := newProber(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "nxray: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := runExplain(ctx, p, cfg.Parsed.Upstreams[0].Addr, cfg.Timeout, name, qt)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		return 0
	}
	printVerdict(stdout, v)
	return 0
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
