package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// window is one floodalt window, from bench/run.sh's windows file:
// "PHASE CYCLE START END" (Unix times, s).
type window struct {
	phase, cycle string
	start, end   float64
}

// readWindows reads a floodalt windows file.
func readWindows(r io.Reader) ([]window, error) {
	var ws []window
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := pad(strings.Fields(sc.Text()), 4)
		ws = append(ws, window{phase: f[0], cycle: f[1], start: num(f[2]), end: num(f[3])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading windows: %w", err)
	}
	return ws, nil
}

// joinWindows gives each 1-s interval of the hit run (dnsperf -S 1) to the
// window it lies in, its first 0.5 s left out: the "alt" lines of results.tsv.
// An interval that lies in no window (between windows, or straddling two) is left out.
func joinWindows(server string, ws []window, hits []interval) []string {
	var lines []string
	for _, iv := range hits {
		for _, w := range ws {
			if iv.end-1 >= w.start+0.5 && iv.end <= w.end {
				lines = append(lines, fmt.Sprintf("alt %s %s %s %.0f", server, w.phase, w.cycle, iv.rate))
				break
			}
		}
	}
	return lines
}

type phaseKey struct{ server, phase string }

type cycleKey struct {
	server, phase string
	cycle         int
}

// alternation is the floodalt lines of results.tsv.
type alternation struct {
	servers              []string // in order of their first alt line
	sum                  map[phaseKey]float64
	count                map[phaseKey]int
	cycleSum             map[cycleKey]float64
	cycleCount           map[cycleKey]int
	cpu                  map[string]string
	sent, answered, lost map[string]float64
}

func newAlternation() alternation {
	return alternation{
		sum: map[phaseKey]float64{}, count: map[phaseKey]int{},
		cycleSum: map[cycleKey]float64{}, cycleCount: map[cycleKey]int{},
		cpu: map[string]string{}, sent: map[string]float64{}, answered: map[string]float64{}, lost: map[string]float64{},
	}
}

// add takes one alt or altinfo line, split and padded.
func (a *alternation) add(f []string) {
	sv := f[1]
	switch {
	case f[0] == "alt":
		if !contains(a.servers, sv) {
			a.servers = append(a.servers, sv)
		}
		v := num(f[4])
		a.sum[phaseKey{sv, f[2]}] += v
		a.count[phaseKey{sv, f[2]}]++
		ck := cycleKey{sv, f[2], int(num(f[3]))}
		a.cycleSum[ck] += v
		a.cycleCount[ck]++
	case f[2] == "cpu":
		a.cpu[sv] = f[3]
	case strings.HasPrefix(f[2], "flood-on-"):
		a.sent[sv] += num(f[4])
		a.answered[sv] += num(f[5])
		a.lost[sv] += num(f[6])
	}
}

func (a *alternation) phaseMean(sv, phase string) float64 {
	k := phaseKey{sv, phase}
	return a.sum[k] / float64(a.count[k])
}

// cycleRatios is, for each cycle with both, the flood phase's mean hits/s
// over the no-flood phase's.
func (a *alternation) cycleRatios(sv string, cycles int) []float64 {
	var rs []float64
	for c := 1; c <= cycles; c++ {
		on, off := cycleKey{sv, "on", c}, cycleKey{sv, "off", c}
		if a.cycleCount[on] == 0 || a.cycleCount[off] == 0 {
			continue
		}
		rs = append(rs, (a.cycleSum[on]/float64(a.cycleCount[on]))/(a.cycleSum[off]/float64(a.cycleCount[off])))
	}
	return rs
}

// meanSE is the mean of xs and its standard error (0 for fewer than two), and the min and max.
func meanSE(xs []float64) (mean, se, lo, hi float64) {
	lo, hi = 1e9, 0
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
		lo, hi = min(lo, x), max(hi, x)
	}
	n := float64(len(xs))
	mean = sum / n
	if len(xs) > 1 {
		se = math.Sqrt((sq - n*mean*mean) / (n - 1) / n)
	}
	return mean, se, lo, hi
}

// summary is the one-line log of a server's floodalt run.
func (a *alternation) summary(sv string) string {
	c := func(ph string) int { return a.count[phaseKey{sv, ph}] }
	return fmt.Sprintf("hits/s no flood %.0f (%d s), control %.0f (%d s), flood %.0f (%d s)",
		a.phaseMean(sv, "off"), c("off"), a.phaseMean(sv, "ctl"), c("ctl"), a.phaseMean(sv, "on"), c("on"))
}

// writeAlternation prints the floodalt table, one row per server.
func writeAlternation(p *printer, res *results, k knobs) {
	a := &res.alt
	if len(a.servers) == 0 {
		return
	}
	p.line("")
	p.line("Flood switched on and off under one hit run (floodalt: %d cycles of %s-s windows: no flood, flood to the upstream (control), no flood, flood to the server; dnsperf -S 1; the first 0.5 s of each window left out):", k.altCycles, k.altWindow)
	p.line("")
	p.line("| server | hits/s, no flood | control | flood to the server | flood vs no flood | flood vs control | per-cycle flood vs no flood: mean ± standard error (min-max) | server CPU | flood sent / answered / lost |")
	p.line("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sv := range a.servers {
		off, ctl, on := a.phaseMean(sv, "off"), a.phaseMean(sv, "ctl"), a.phaseMean(sv, "on")
		m, se, lo, hi := meanSE(a.cycleRatios(sv, k.altCycles))
		c := func(ph string) int { return a.count[phaseKey{sv, ph}] }
		p.line("| %s | %.0f (%d s) | %.0f (%.1f%%; %d s) | %.0f (%d s) | **%.1f%%** | %.1f%% | %.1f%% ± %.1f (%.0f-%.0f%%) | %s%% | %d / %d / %d |",
			pretty(sv), off, c("off"), ctl, 100*ctl/off, c("ctl"), on, c("on"), 100*on/off, 100*on/ctl,
			100*m, 100*se, 100*lo, 100*hi, a.cpu[sv], int64(a.sent[sv]), int64(a.answered[sv]), int64(a.lost[sv]))
	}
}
