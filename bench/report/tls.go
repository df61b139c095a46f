package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// The results file of bench/tls.sh, one line each:
//
//	run KIND PROTO ROW REP qps sent completed lost avg_ms p50_ms p99_ms rcodes opens srv_cpu kresd_cpu
//	rss PROTO ROW vmhwm_mib
//	conns PROTO ROW n      TLS connections the row held to kresd at the end
//	info ...               (not read)
//
// KIND is tput (saturation), lat (fixed rate, p50/p99) or deep (saturation
// with many more queries in flight); PROTO dot or doh; ROW direct (dnsperf
// to kresd), nxray or dnsproxy. rcodes is dnsperf's "NOERROR:9,SERVFAIL:1"
// ("-": no answer at all); opens the TCP connections opened in the
// namespace during the run; CPU figures are % of one CPU ("-": not
// measured).

// tlsRun is one run line.
type tlsRun struct {
	kind, proto, row string
	qps, lost        float64
	p50, p99         string
	rcodes           string
	opens            float64
	srvCPU, kresdCPU string
}

// failed is the answers other than NOERROR in rcodes.
func (r tlsRun) failed() float64 {
	n := 0.0
	for _, kv := range strings.Split(r.rcodes, ",") {
		k, v, ok := strings.Cut(kv, ":")
		if ok && k != "NOERROR" {
			n += num(v)
		}
	}
	return n
}

type tlsResults struct {
	protos, rows []string // in order of first appearance
	runs         []tlsRun
	rss, conns   map[string]string // "PROTO ROW"
}

func readTLS(r io.Reader) (*tlsResults, error) {
	res := &tlsResults{rss: map[string]string{}, conns: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "run":
			f = pad(f, 16)
			run := tlsRun{kind: f[1], proto: f[2], row: f[3], qps: num(f[5]), lost: num(f[8]),
				p50: f[10], p99: f[11], rcodes: f[12], opens: num(f[13]), srvCPU: f[14], kresdCPU: f[15]}
			if !contains(res.protos, run.proto) {
				res.protos = append(res.protos, run.proto)
			}
			if !contains(res.rows, run.row) {
				res.rows = append(res.rows, run.row)
			}
			res.runs = append(res.runs, run)
		case "rss", "conns":
			f = pad(f, 4)
			m := res.rss
			if f[0] == "conns" {
				m = res.conns
			}
			m[f[1]+" "+f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading tls results: %w", err)
	}
	return res, nil
}

func (res *tlsResults) of(kind, proto, row string) []tlsRun {
	var out []tlsRun
	for _, r := range res.runs {
		if r.kind == kind && r.proto == proto && r.row == row {
			out = append(out, r)
		}
	}
	return out
}

// tlsTables prints one table for the results file of bench/tls.sh: a row
// per protocol and server, medians over the saturation runs.
func tlsTables(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("tls", flag.ContinueOnError)
	latQPS := fs.String("lat-qps", "2000", "rate of the latency runs (LAT_QPS)")
	deep := fs.String("deep", "2000", "dnsperf -q of the deep runs (DEEP_OUTSTANDING)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("tls: want one results file, have %d", fs.NArg())
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := readTLS(f)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| | saturation QPS, median (range) | CPU: server / kresd | TCP opens per run | p50 / p99 at %s QPS | lost | not NOERROR | at -q %s: QPS, lost, not NOERROR, TCP opens | TLS connections held at the end | peak RSS |\n",
		kQPS(*latQPS), *deep)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, proto := range res.protos {
		for _, row := range res.rows {
			b.WriteString(res.tlsRow(proto, row))
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func (res *tlsResults) tlsRow(proto, row string) string {
	tput := res.of("tput", proto, row)
	if len(tput) == 0 {
		return ""
	}
	qps := pick2(tput, func(r tlsRun) float64 { return r.qps })
	lo, hi := qps[0], qps[0]
	for _, q := range qps {
		lo, hi = min(lo, q), max(hi, q)
	}
	var lost, failed float64
	for _, r := range append(append([]tlsRun(nil), tput...), res.of("lat", proto, row)...) {
		lost += r.lost
		failed += r.failed()
	}
	latency, deep := "-", "-"
	if l := res.of("lat", proto, row); len(l) > 0 {
		latency = fmt.Sprintf("%s / %s ms", l[0].p50, l[0].p99)
	}
	if d := res.of("deep", proto, row); len(d) > 0 {
		deep = fmt.Sprintf("%.0f, %.0f, %.0f, %.0f", d[0].qps, d[0].lost, d[0].failed(), d[0].opens)
	}
	cpu := fmt.Sprintf("%.0f%% / %.0f%%", median(pick2(tput, func(r tlsRun) float64 { return num(r.srvCPU) })),
		median(pick2(tput, func(r tlsRun) float64 { return num(r.kresdCPU) })))
	if row == "direct" {
		cpu = "-" + cpu[strings.Index(cpu, " /"):]
	}
	rss, conns := res.rss[proto+" "+row], res.conns[proto+" "+row]
	if rss == "" {
		rss = "-"
	} else {
		rss += " MiB"
	}
	if conns == "" {
		conns = "-"
	}
	name := strings.ToUpper(proto) + ", " + map[string]string{"direct": "dnsperf to kresd directly"}[row]
	if row != "direct" {
		name += row
	}
	return fmt.Sprintf("| %s | %.0f (%.0f–%.0f) | %s | %.0f | %s | %.0f | %.0f | %s | %s | %s |\n",
		name, median(qps), lo, hi, cpu, median(pick2(tput, func(r tlsRun) float64 { return r.opens })),
		latency, lost, failed, deep, conns, rss)
}

func pick2(runs []tlsRun, f func(tlsRun) float64) []float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return xs
}
