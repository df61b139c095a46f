package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// results.tsv, written by bench/run.sh, one measurement a line:
//
//	tput SCENARIO SERVER REP qps sent completed lost avg_ms - - peak_rss_mib cpu_pct
//	lat SCENARIO SERVER 1 qps sent completed lost avg_ms p50_ms p99_ms peak_rss_mib
//	floodinfo SERVER KEY VALUE...   (flood: cpu-PHASE-ROUND, gencpu-PHASE-ROUND,
//	                                 flood-PHASE-ROUND qps sent completed lost avg_ms rcodes,
//	                                 rss-start|rss-on-ROUND|rss-end rss hwm, loglines N)
//	kill SERVER qps sent completed lost avg_ms max_ms p50 p99 n>100ms n>400ms n>1s rcodes lowest_rate
//	alt SERVER PHASE CYCLE QPS      (floodalt: one 1-s interval of the hit run)
//	altinfo SERVER KEY VALUE...     (floodalt: cpu PCT, rss-end rss hwm,
//	                                 flood-PHASE-CYCLE qps sent completed lost avg_ms)
//
// SCENARIO is hit, fwd or flood-PHASE (PHASE off, ctl or on; REP is then the round).

type key struct{ scenario, server string }

// series is every tput line of one scenario and server.
type series struct {
	n                  int
	qpsSum             float64
	qpsList            []string // each rep's QPS as written
	sent, lost, avgSum float64
	cpuSum             float64
	hasLat             bool
	latAvg, p50, p99   string // the lat line's fields as written
	latLost            string
	rss                string // the highest peak RSS of its tput and lat lines, as written
	inOrder            bool   // has a tput line
}

func (s *series) mean() float64    { return s.qpsSum / float64(s.n) }
func (s *series) meanAvg() float64 { return s.avgSum / float64(s.n) }

// noteRSS keeps the higher of the RSS seen so far and v (as awk's
// `if ($12 + 0 > rss + 0) rss = $12`: "?" reads as 0).
func (s *series) noteRSS(v string) {
	if num(v) > num(s.rss) {
		s.rss = v
	}
}

type floodKey struct {
	server, phase string
	round         int
}

type floodSent struct {
	sent, completed, lost float64
	rcodes                string
}

type results struct {
	order   []key // tput series in order of their first line
	series  map[key]*series
	servers []string // servers of hit and fwd tput lines, in order of appearance

	floodServers []string             // servers of floodinfo lines, in order
	floodInfo    map[[2]string]string // (server, key) -> the whole line
	floodQPS     map[floodKey]float64 // tput flood-PHASE: QPS per round
	floodCPU     map[floodKey]float64
	floodGenCPU  map[floodKey]float64
	floodSent    map[floodKey]floodSent
	rounds       int // the highest round seen

	kills [][]string // kill lines, split

	alt alternation
}

func newResults() *results {
	return &results{
		series:      map[key]*series{},
		floodInfo:   map[[2]string]string{},
		floodQPS:    map[floodKey]float64{},
		floodCPU:    map[floodKey]float64{},
		floodGenCPU: map[floodKey]float64{},
		floodSent:   map[floodKey]floodSent{},
		alt:         newAlternation(),
	}
}

// readResults reads results.tsv. Lines of a kind it does not know are skipped.
func readResults(r io.Reader) (*results, error) {
	res := newResults()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "tput":
			res.addThroughput(pad(f, 14))
		case "lat":
			res.addLatency(pad(f, 13))
		case "floodinfo":
			res.addFloodInfo(sc.Text(), pad(f, 10))
		case "kill":
			res.kills = append(res.kills, pad(f, 16))
		case "alt", "altinfo":
			res.alt.add(pad(f, 8))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	return res, nil
}

// pad makes f at least n long, so that awk's $i, counted from 1, is f[i-1]
// and a missing field reads as "".
func pad(f []string, n int) []string {
	for len(f) < n {
		f = append(f, "")
	}
	return f
}

func (res *results) get(k key) *series {
	s, ok := res.series[k]
	if !ok {
		s = &series{}
		res.series[k] = s
	}
	return s
}

func (res *results) addThroughput(f []string) {
	k := key{f[1], f[2]}
	s := res.get(k)
	if !s.inOrder {
		res.order = append(res.order, k)
		s.inOrder = true
	}
	s.n++
	s.qpsSum += num(f[4])
	s.qpsList = append(s.qpsList, f[4])
	s.sent += num(f[5])
	s.lost += num(f[7])
	s.avgSum += num(f[8])
	s.cpuSum += num(f[12])
	s.noteRSS(f[11])
	if k.scenario == "hit" || k.scenario == "fwd" {
		if !contains(res.servers, k.server) {
			res.servers = append(res.servers, k.server)
		}
	}
	if phase, ok := strings.CutPrefix(k.scenario, "flood-"); ok {
		round := int(num(f[3]))
		res.floodQPS[floodKey{k.server, phase, round}] = num(f[4])
		res.rounds = max(res.rounds, round)
	}
}

func (res *results) addLatency(f []string) {
	s := res.get(key{f[1], f[2]})
	s.hasLat = true
	s.latAvg, s.p50, s.p99 = f[8], f[9], f[10]
	s.latLost = f[7]
	s.noteRSS(f[11])
}

func (res *results) addFloodInfo(line string, f []string) {
	sv, what := f[1], f[2]
	res.floodInfo[[2]string{sv, what}] = line
	if !contains(res.floodServers, sv) {
		res.floodServers = append(res.floodServers, sv)
	}
	kind, rest, _ := strings.Cut(what, "-")
	phase, round, _ := strings.Cut(rest, "-")
	fk := floodKey{sv, phase, int(num(round))}
	switch kind {
	case "cpu":
		res.floodCPU[fk] = num(f[3])
	case "gencpu":
		res.floodGenCPU[fk] = num(f[3])
	case "flood":
		res.floodSent[fk] = floodSent{num(f[4]), num(f[5]), num(f[6]), f[8]}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pretty is a server's name in the tables.
func pretty(server string) string {
	switch server {
	case "coredns":
		return "CoreDNS"
	case "direct":
		return "direct to upstream"
	}
	return server
}
