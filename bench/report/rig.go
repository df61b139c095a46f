package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// The results file of bench/rig.sh, the reviewer-shaped rig, one line each:
//
//	row SERVER      (optional) the table's rows, in this order
//	run KIND SERVER ROUND qps sent completed lost avg_ms p50_ms p99_ms names server_cpu upstream_cpu dnsperf_cpu udp_drops server_sock_drops upstream_sock_drops
//	rss SERVER vmhwm_mib
//
// KIND is hit (cache hits over h0..h999), fwd (unique names, no rate limit)
// or lat (unique names at a fixed rate, p50/p99 from dnsperf -v); other
// kinds (the profile runs, prof-*) are not counted. names is how many names
// the run's query file held ("-" for the hit set); CPU figures are % of one
// CPU over the run ("-" when not measured: the direct row has no server).
// udp_drops is the machine's UDP receive-buffer drops during the run
// (RcvbufErrors), the next two those at the UDP sockets the server and the
// upstream hold ("-": the direct row has no server): where lost queries
// went. The rest were dropped at dnsperf's sockets (or at short-lived
// sockets of a server).

// rigRun is one run line.
type rigRun struct {
	kind, server        string
	round               int
	qps                 float64
	sent, lost          float64
	avgMs, p99          float64
	hasP99              bool
	names               float64 // 0: not given
	srvCPU, upCPU, gCPU string
	udpDrops            float64
	srvDrops, upDrops   float64
}

type rigResults struct {
	servers []string // in order of their row lines, then of their first run line
	runs    []rigRun
	rss     map[string]string
}

func readRig(r io.Reader) (*rigResults, error) {
	res := &rigResults{rss: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "run":
			f = pad(f, 18)
			run := rigRun{
				kind: f[1], server: f[2], round: int(num(f[3])),
				qps: num(f[4]), sent: num(f[5]), lost: num(f[7]), avgMs: num(f[8]),
				p99: num(f[10]), hasP99: f[10] != "" && f[10] != "-",
				names:  num(f[11]),
				srvCPU: f[12], upCPU: f[13], gCPU: f[14],
				udpDrops: num(f[15]), srvDrops: num(f[16]), upDrops: num(f[17]),
			}
			if !contains(res.servers, run.server) {
				res.servers = append(res.servers, run.server)
			}
			res.runs = append(res.runs, run)
		case "row":
			if len(f) > 1 && !contains(res.servers, f[1]) {
				res.servers = append(res.servers, f[1])
			}
		case "rss":
			f = pad(f, 3)
			res.rss[f[1]] = f[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading rig results: %w", err)
	}
	return res, nil
}

// median of xs: the middle value, or the mean of the two middle values.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := append([]float64(nil), xs...)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// of is the runs of one kind and server, in round order.
func (res *rigResults) of(kind, server string) []rigRun {
	var out []rigRun
	for _, r := range res.runs {
		if r.kind == kind && r.server == server {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].round < out[j].round })
	return out
}

func pick(runs []rigRun, f func(rigRun) float64) []float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return xs
}

// cpuMedian is the median of a CPU column over runs, "-" if none has one.
func cpuMedian(runs []rigRun, f func(rigRun) string) string {
	var xs []float64
	for _, r := range runs {
		if v := f(r); v != "" && v != "-" {
			xs = append(xs, num(v))
		}
	}
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", median(xs))
}

// rigName is a server's row label.
func rigName(server string) string {
	switch server {
	case "direct":
		return "querying the upstream directly"
	case "coredns":
		return "CoreDNS"
	case "unbound":
		return "Unbound"
	}
	return server
}

// kQPS is a rate as the header says it: 5000 is "5k".
func kQPS(q string) string {
	if v := num(q); v >= 1000 && v == float64(int(v/1000))*1000 {
		return fmt.Sprintf("%dk", int(v/1000))
	}
	return q
}

func rigTables(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("rig", flag.ContinueOnError)
	latQPS := fs.String("lat-qps", "5000", "rate of the latency runs (LAT_QPS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("rig: want one results file, have %d", fs.NArg())
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := readRig(f)
	if err != nil {
		return err
	}
	p := &printer{w: w}
	writeRig(p, res, *latQPS)
	return p.bad
}

// writeRig prints the main table (medians over rounds; lost summed over
// every counted run), then the CPU table, each round's figures, and a
// warning for each run that asked more queries than its names file held.
func writeRig(p *printer, res *rigResults, latQPS string) {
	writeRigMain(p, res, latQPS)
	writeRigCPU(p, res)
	writeRigRounds(p, res)
	writeRigWrapped(p, res)
}

// writeRigMain prints the main table: a row per server of its medians over
// the rounds, the queries it lost and its peak RSS.
func writeRigMain(p *printer, res *rigResults, latQPS string) {
	p.line("| | cache-hit QPS | forwarding QPS | forwarding latency avg / p99 at %s QPS | queries lost | RSS |", kQPS(latQPS))
	p.line("|---|---:|---:|---:|---:|---:|")
	for _, sv := range res.servers {
		hit, fwd, lat := res.of("hit", sv), res.of("fwd", sv), res.of("lat", sv)
		p.line("| %s | %s | %s | %s | %s | %s |", rigName(sv), medianQPS(hit), medianQPS(fwd), medianLatency(lat),
			lostSum(hit, fwd, lat), res.rssCell(sv))
	}
}

// medianQPS is the median rate of runs, "-" if there are none.
func medianQPS(runs []rigRun) string {
	if len(runs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", median(pick(runs, func(r rigRun) float64 { return r.qps })))
}

// medianLatency is "avg / p99 ms" of the latency runs, each the median over
// the runs that have it; "-" if there are no runs.
func medianLatency(lat []rigRun) string {
	if len(lat) == 0 {
		return "-"
	}
	p99 := "-"
	var withP99 []rigRun
	for _, r := range lat {
		if r.hasP99 {
			withP99 = append(withP99, r)
		}
	}
	if len(withP99) > 0 {
		p99 = fmt.Sprintf("%.3f", median(pick(withP99, func(r rigRun) float64 { return r.p99 })))
	}
	return fmt.Sprintf("%.3f / %s ms", median(pick(lat, func(r rigRun) float64 { return r.avgMs })), p99)
}

// lostSum is the queries lost over every run of the lists, "-" if there are
// no runs.
func lostSum(lists ...[]rigRun) string {
	var lost float64
	counted := 0
	for _, runs := range lists {
		for _, r := range runs {
			lost += r.lost
			counted++
		}
	}
	if counted == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", lost)
}

// rssCell is a server's peak RSS, "-" if it is not known.
func (res *rigResults) rssCell(server string) string {
	if v, ok := res.rss[server]; ok && v != "" && v != "?" {
		return v + " MiB"
	}
	return "-"
}

// writeRigCPU prints the CPU table: a row per server of the median CPU of
// each kind of run, and the UDP drops over its counted runs.
func writeRigCPU(p *printer, res *rigResults) {
	p.line("")
	p.line("CPU during the runs, median %% of one CPU: server under test / upstream knotd / dnsperf")
	p.line("(the server alone on its CPU, knotd and dnsperf sharing the other; for the direct row knotd is the server);")
	p.line("UDP drops: the machine's UDP receive-buffer drops during the server's counted runs, summed: all / at the")
	p.line("server's sockets (its listener and those towards knotd) / at knotd's. The rest were dropped at dnsperf's sockets.")
	p.line("")
	p.line("| | cache hits | forwarding | latency runs | UDP drops |")
	p.line("|---|---:|---:|---:|---:|")
	for _, sv := range res.servers {
		cells := []string{rigName(sv)}
		for _, kind := range []string{"hit", "fwd", "lat"} {
			cells = append(cells, cpuCell(res.of(kind, sv)))
		}
		cells = append(cells, res.dropsCell(sv))
		p.line("| %s |", strings.Join(cells, " | "))
	}
}

// cpuCell is "server / upstream / dnsperf", the median CPU of each over
// runs, "-" if there are no runs.
func cpuCell(runs []rigRun) string {
	if len(runs) == 0 {
		return "-"
	}
	return strings.Join([]string{
		cpuMedian(runs, func(r rigRun) string { return r.srvCPU }),
		cpuMedian(runs, func(r rigRun) string { return r.upCPU }),
		cpuMedian(runs, func(r rigRun) string { return r.gCPU }),
	}, " / ")
}

// dropsCell is "all / at the server / at the upstream", a server's UDP
// drops summed over its counted runs; the direct row has no server.
func (res *rigResults) dropsCell(server string) string {
	var drops, srv, up float64
	for _, kind := range []string{"hit", "fwd", "lat"} {
		for _, r := range res.of(kind, server) {
			drops += r.udpDrops
			srv += r.srvDrops
			up += r.upDrops
		}
	}
	srvCell := fmt.Sprintf("%.0f", srv)
	if server == "direct" {
		srvCell = "-"
	}
	return fmt.Sprintf("%.0f / %s / %.0f", drops, srvCell, up)
}

// writeRigRounds prints each round's figures, a row per server.
func writeRigRounds(p *printer, res *rigResults) {
	p.line("")
	p.line("Each round (QPS; latency avg / p99 ms; lost):")
	p.line("")
	p.line("| | cache-hit QPS | forwarding QPS | latency | lost |")
	p.line("|---|---|---|---|---|")
	for _, sv := range res.servers {
		hit, fwd, lat := res.of("hit", sv), res.of("fwd", sv), res.of("lat", sv)
		p.line("| %s | %s | %s | %s | %s |", rigName(sv), listRuns(hit, roundQPS), listRuns(fwd, roundQPS),
			listRuns(lat, roundLatency), roundsLost(hit, fwd, lat))
	}
}

// listRuns is f of each run, comma-separated, "-" if there are none.
func listRuns(runs []rigRun, f func(rigRun) string) string {
	if len(runs) == 0 {
		return "-"
	}
	var s []string
	for _, r := range runs {
		s = append(s, f(r))
	}
	return strings.Join(s, ", ")
}

// roundQPS is a run's rate.
func roundQPS(r rigRun) string { return fmt.Sprintf("%.0f", r.qps) }

// roundLatency is a run's "avg / p99" in ms, p99 "-" if it has none.
func roundLatency(r rigRun) string {
	p99 := "-"
	if r.hasP99 {
		p99 = fmt.Sprintf("%.3f", r.p99)
	}
	return fmt.Sprintf("%.3f / %s", r.avgMs, p99)
}

// roundsLost lists the runs that lost queries, with their round and UDP
// drops, or is "0" if none did.
func roundsLost(hit, fwd, lat []rigRun) string {
	all := append(append(append([]rigRun(nil), hit...), fwd...), lat...)
	var lostAny []rigRun
	for _, r := range all {
		if r.lost > 0 {
			lostAny = append(lostAny, r)
		}
	}
	if len(lostAny) == 0 {
		return "0"
	}
	return listRuns(lostAny, func(r rigRun) string {
		return fmt.Sprintf("%s %.0f (round %d; UDP drops %.0f / %.0f / %.0f)", r.kind, r.lost, r.round, r.udpDrops, r.srvDrops, r.upDrops)
	})
}

// writeRigWrapped warns of each forwarding or latency run that sent more
// queries than its names file held, if any did.
func writeRigWrapped(p *printer, res *rigResults) {
	var wrapped []string
	for _, r := range res.runs {
		if (r.kind == "fwd" || r.kind == "lat") && r.names > 0 && r.sent > r.names {
			wrapped = append(wrapped, fmt.Sprintf("%s %s round %d (%.0f sent, %.0f names)", r.kind, r.server, r.round, r.sent, r.names))
		}
	}
	if len(wrapped) > 0 {
		p.line("")
		p.line("**WARNING**: dnsperf ran out of unique names and started over in: %s. Names asked twice may be cache hits, so those forwarding figures are too high; raise FWD_NAMES_PER_SEC.", strings.Join(wrapped, "; "))
	}
}
