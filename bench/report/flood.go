package main

import (
	"fmt"
	"strings"
)

var floodPhases = []string{"off", "ctl", "on"}

// phaseStats are one flood phase's per-round figures, each round's hit QPS
// divided by the same round's no-flood QPS.
type phaseStats struct {
	ratioMean, ratioMin, ratioMax float64
	cpuMean, genCPUMean           float64
}

func (res *results) phaseStats(server, phase string) phaseStats {
	st := phaseStats{ratioMin: 1e9}
	var sum, cpu, gen float64
	n := 0
	for r := 1; r <= res.rounds; r++ {
		q, ok := res.floodQPS[floodKey{server, phase, r}]
		off, okOff := res.floodQPS[floodKey{server, "off", r}]
		if !ok || !okOff {
			continue
		}
		x := q / off
		sum += x
		n++
		st.ratioMin = min(st.ratioMin, x)
		st.ratioMax = max(st.ratioMax, x)
		cpu += res.floodCPU[floodKey{server, phase, r}]
		gen += res.floodGenCPU[floodKey{server, phase, r}]
	}
	st.ratioMean, st.cpuMean, st.genCPUMean = sum/float64(n), cpu/float64(n), gen/float64(n)
	return st
}

// writeFlood prints, per server of the flood scenario, its rounds' table and
// notes, then all servers side by side.
func writeFlood(p *printer, res *results, k knobs) {
	rows := map[string]string{}
	for _, sv := range res.floodServers {
		if _, ok := res.mean("flood-off", sv); !ok {
			continue
		}
		rows[sv] = writeFloodServer(p, res, k, sv)
	}
	if len(res.floodServers) < 2 {
		return
	}
	p.line("")
	p.line("Flood, side by side (hit QPS, mean over rounds; in brackets the mean of per-round ratios to no flood):")
	p.line("")
	p.line("| server | no flood | control (flood to the upstream) | flood to the server | flood vs control (ratio of means) |")
	p.line("|---|---:|---:|---:|---:|")
	for _, sv := range res.floodServers {
		if row, ok := rows[sv]; ok {
			p.line("%s", row)
		}
	}
}

// writeFloodServer prints one server's flood table and notes, and returns its
// row of the side-by-side table.
func writeFloodServer(p *printer, res *results, k knobs, sv string) string {
	name := pretty(sv)
	p.line("")
	p.line("Flood (%s, cache on; %d rounds of: a hit run without flood, one while the flood goes to the upstream (control), one while it goes to %s, each round starting one phase later; dnsperf -l %s each; flood at %s qps of fresh rnd-N.bench.test. names):",
		name, res.rounds, name, k.duration, k.floodQPS)
	p.line("")
	p.line("| run | hit QPS (mean) | QPS per round | vs no flood (mean of per-round ratios; min-max) | %s CPU (%% of CPU 0) | dnsperf (hits) CPU (%% of CPU 1) |", name)
	p.line("|---|---:|---:|---:|---:|---:|")
	ratio := map[string]float64{}
	for _, ph := range floodPhases {
		s, ok := res.series[key{"flood-" + ph, sv}]
		if !ok || s.n == 0 {
			continue
		}
		st := res.phaseStats(sv, ph)
		desc := "flood sent to " + name
		switch ph {
		case "off":
			desc = "no flood"
		case "ctl":
			desc = "control: flood sent to the upstream, not " + name
		}
		p.line("| %s | %.0f | %s | %.1f%% (%.0f-%.0f%%) | %.0f | %.0f |", desc, s.mean(), strings.Join(s.qpsList, ", "),
			100*st.ratioMean, 100*st.ratioMin, 100*st.ratioMax, st.cpuMean, st.genCPUMean)
		ratio[ph] = st.ratioMean
	}
	off, ctl, on := res.meanOrZero("flood-off", sv), res.meanOrZero("flood-ctl", sv), res.meanOrZero("flood-on", sv)
	p.line("")
	met := "NOT MET"
	if ratio["on"] >= 0.9 {
		met = "MET"
	}
	p.line("- hit throughput during the flood: %.1f%% of flood-free (mean of per-round ratios; target >= 90%%: %s); ratio of means %.1f%%",
		100*ratio["on"], met, 100*on/off)
	if r, ok := ratio["ctl"]; ok {
		p.line("- with the flood sent to the upstream instead (control): %.1f%%; flood vs control: %.1f%%", 100*r, 100*on/ctl)
	}
	var sent, answered, lost float64
	rcodes := ""
	for r := 1; r <= res.rounds; r++ {
		if fs, ok := res.floodSent[floodKey{sv, "on", r}]; ok {
			sent, answered, lost, rcodes = sent+fs.sent, answered+fs.completed, lost+fs.lost, fs.rcodes
		}
	}
	p.line("- flood queries sent to %s: %d, answered %d, lost %d (last round rcodes %s)", name, int64(sent), int64(answered), int64(lost), rcodes)
	info := func(what string, i int) string { // field i, counted from 1, of a floodinfo line
		return field(strings.Fields(res.floodInfo[[2]string{sv, what}]), i-1)
	}
	var after []string
	for r := 1; r <= res.rounds; r++ {
		after = append(after, info(fmt.Sprintf("rss-on-%d", r), 4))
	}
	p.line("- %s RSS (MiB): %s at start; right after each flood round: %s; %s %s s after the last (peak %s); %s lines of output",
		name, info("rss-start", 4), strings.Join(after, ", "), info("rss-end", 4), k.settle, info("rss-end", 5), info("loglines", 4))
	return fmt.Sprintf("| %s | %.0f | %.0f (%.1f%%) | %.0f (%.1f%%) | %.1f%% |", name, off, ctl, 100*ratio["ctl"], on, 100*ratio["on"], 100*on/ctl)
}
