package main

import (
	"fmt"
	"io"
	"strings"
)

// knobs are the run's settings the tables name. They are printed as given.
type knobs struct {
	duration        string // dnsperf -l of a throughput run, s
	latQPS          string // rate of the latency runs
	floodQPS        string
	settle          string // quiet after each flood round, s
	killQPS         string
	killAt          string // s into the kill run
	killTimeout     string // nxray's --timeout in the kill run
	killOutstanding string // dnsperf -q in the kill run
	altWindow       string // floodalt window, s
	altCycles       int
}

// writeTables prints every table of the report, in the order bench/run.sh
// always has: hits and forwarding (headers even when empty), flood, kill,
// floodalt.
func writeTables(p *printer, res *results, k knobs) {
	writeSummary(p, res, k)
	writeScenarios(p, res, k)
	writeRatios(p, res, k)
	writeFlood(p, res, k)
	writeKill(p, res, k)
	writeAlternation(p, res, k)
}

// printer writes lines; the first write error sticks in bad.
type printer struct {
	w   io.Writer
	bad error
}

func (p *printer) line(format string, a ...any) {
	if p.bad == nil {
		_, p.bad = fmt.Fprintf(p.w, format+"\n", a...)
	}
}

// mean is the mean QPS of a scenario's tput lines, and whether it has any.
func (res *results) mean(scenario, server string) (float64, bool) {
	s, ok := res.series[key{scenario, server}]
	if !ok || s.n == 0 {
		return 0, false
	}
	return s.mean(), true
}

func (res *results) meanOrZero(scenario, server string) float64 {
	m, _ := res.mean(scenario, server)
	return m
}

// writeSummary is the side-by-side table: one row per server of hit and fwd.
func writeSummary(p *printer, res *results, k knobs) {
	p.line("| server | cache-hit QPS | hit p50 / p99 @%s qps (ms) | hit peak RSS (MiB) | forwarding QPS | fwd p50 / p99 @%s qps (ms) | fwd peak RSS (MiB) |", k.latQPS, k.latQPS)
	p.line("|---|---:|---:|---:|---:|---:|---:|")
	for _, sv := range res.servers {
		cells := []string{pretty(sv)}
		for _, sc := range []string{"hit", "fwd"} {
			s := res.series[key{sc, sv}]
			qps, pct, rss := "-", "-", "-"
			if m, ok := res.mean(sc, sv); ok {
				qps = fmt.Sprintf("%.0f", m)
			}
			if s != nil && s.hasLat {
				pct = s.p50 + " / " + s.p99
			}
			if s != nil {
				rss = s.rss
			}
			cells = append(cells, qps, pct, rss)
		}
		p.line("| %s |", strings.Join(cells, " | "))
	}
	p.line("")
}

// writeScenarios is one row per hit or fwd series: reps, loss, latency, RSS, CPU.
func writeScenarios(p *printer, res *results, k knobs) {
	p.line("| scenario | QPS (mean) | QPS per rep | lost | avg latency at max load (ms) | latency @%s qps avg / p50 / p99 (ms) | peak RSS (MiB) | server CPU at max load (%% of one CPU) |", k.latQPS)
	p.line("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, kk := range res.order {
		if kk.scenario != "hit" && kk.scenario != "fwd" {
			continue
		}
		s := res.series[kk]
		sent := s.sent
		if sent == 0 {
			sent = 1
		}
		lostLat := ""
		if num(s.latLost) > 0 {
			lostLat = " (" + s.latLost + " lost)"
		}
		p.line("| %s | %.0f | %s | %d (%.2f%%) | %.3f | %s / %s / %s%s | %s | %.0f |",
			label(kk), s.mean(), strings.Join(s.qpsList, ", "), int64(s.lost), 100*s.lost/sent,
			s.meanAvg(), s.latAvg, s.p50, s.p99, lostLat, s.rss, s.cpuSum/float64(s.n))
	}
	p.line("")
}

func label(k key) string {
	if k.server == "direct" {
		return "direct to upstream (baseline; RSS = upstream)"
	}
	if k.scenario == "hit" {
		return "cache hit: " + pretty(k.server)
	}
	return "forwarding: " + pretty(k.server)
}

// writeRatios compares nxray with each peer, and its forwarding latency with direct.
func writeRatios(p *printer, res *results, k knobs) {
	for _, sv := range res.servers {
		if sv == "nxray" || sv == "direct" {
			continue
		}
		if nx, ok := res.mean("hit", "nxray"); ok && res.meanOrZero("hit", sv) > 0 {
			p.line("- cache-hit QPS nxray/%s: %.2f", pretty(sv), nx/res.meanOrZero("hit", sv))
		}
		if nx, ok := res.mean("fwd", "nxray"); ok && res.meanOrZero("fwd", sv) > 0 {
			p.line("- forwarding QPS nxray/%s: %.2f", pretty(sv), nx/res.meanOrZero("fwd", sv))
		}
	}
	f, d := res.series[key{"fwd", "nxray"}], res.series[key{"fwd", "direct"}]
	if f == nil || !f.hasLat || d == nil || num(d.latAvg) <= 0 {
		return
	}
	met := "NOT MET"
	if num(f.latAvg) <= 1.10*num(d.latAvg) {
		met = "MET"
	}
	p.line("- forwarding latency @%s qps, nxray vs direct: avg %+.0f%%, p50 %+.0f%%, p99 %+.0f%% (target within +10%%: %s)",
		k.latQPS, 100*(num(f.latAvg)/num(d.latAvg)-1), 100*(num(f.p50)/num(d.p50)-1), 100*(num(f.p99)/num(d.p99)-1), met)
}

// writeKill is one row per server of the kill scenario.
func writeKill(p *printer, res *results, k knobs) {
	if len(res.kills) == 0 {
		return
	}
	p.line("")
	p.line("Kill (forwarding at %s qps to upstreams A then B, A killed with SIGKILL %s s in; nxray --timeout %s; dnsperf -t 2 -q %s):",
		k.killQPS, k.killAt, k.killTimeout, k.killOutstanding)
	p.line("")
	p.line("| server | sent | completed | lost (timed out after 2 s) | rcodes | p50 / p99 (ms) | max latency (ms) | answers > 100 ms / > 400 ms / > 1 s | lowest answers/s in any 1-s interval |")
	p.line("|---|---:|---:|---:|---|---:|---:|---:|---:|")
	for _, a := range res.kills {
		// a[i] is awk's $(i+1): kill SERVER qps sent completed lost avg max p50 p99 n100 n400 n1s rcodes lowest
		p.line("| %s | %s | %s | %s | %s | %s / %s | %s | %s / %s / %s | %s |",
			pretty(a[1]), a[3], a[4], a[5], a[13], a[8], a[9], a[7], a[10], a[11], a[12], a[14])
	}
}
