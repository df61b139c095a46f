package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// dnsperfRun is what one dnsperf output says. Counters keep dnsperf's own
// text, as the results file and the tables print them unchanged.
type dnsperfRun struct {
	qps       float64 // "Queries per second"
	sent      string  // "Queries sent"
	completed string  // "Queries completed"
	lost      string  // "Queries lost"
	avgMs     float64 // "Average Latency", in ms
	maxMs     string  // the "max" in "Average Latency (s): A (min B, max C)", in ms as awk prints it
	rcodes    string  // "NOERROR:123,SERVFAIL:4": no spaces
	noerror   []float64
	perSecond []interval // dnsperf -S 1
}

// interval is one line of dnsperf -S 1: the rate of the second that ended at end.
type interval struct {
	end  float64 // Unix time, s
	rate float64 // answers per second
}

var (
	perSecondLine = regexp.MustCompile(`^[0-9]+\.[0-9]+: [0-9.]+$`)
	rcodePercent  = regexp.MustCompile(` \([0-9.]+%\)`)
)

// parseDnsperf reads one dnsperf output, with -v and -S 1 lines if present.
// A field dnsperf did not print stays at its zero value.
func parseDnsperf(r io.Reader) (dnsperfRun, error) {
	var d dnsperfRun
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "> NOERROR"):
			d.noerror = append(d.noerror, num(f[len(f)-1]))
		case perSecondLine.MatchString(line):
			d.perSecond = append(d.perSecond, interval{end: num(f[0]), rate: num(f[1])})
		case strings.Contains(line, "Queries sent:"):
			d.sent = field(f, 2)
		case strings.Contains(line, "Queries completed:"):
			d.completed = field(f, 2)
		case strings.Contains(line, "Queries lost:"):
			d.lost = field(f, 2)
		case strings.Contains(line, "Queries per second:"):
			d.qps = num(field(f, 3))
		case strings.Contains(line, "Average Latency"):
			d.avgMs = num(field(f, 3)) * 1000
			d.maxMs = awkNumber(num(strings.Trim(f[len(f)-1], "(),")) * 1000)
		case strings.Contains(line, "Response codes:"):
			d.rcodes = rcodeList(line)
		}
	}
	if err := sc.Err(); err != nil {
		return dnsperfRun{}, fmt.Errorf("reading dnsperf output: %w", err)
	}
	return d, nil
}

// rcodeList turns "Response codes: NOERROR 10 (50.00%), NXDOMAIN 10 (50.00%)"
// into "NOERROR:10,NXDOMAIN:10".
func rcodeList(line string) string {
	s := strings.TrimLeft(line[strings.Index(line, "Response codes:")+len("Response codes:"):], " ")
	s = rcodePercent.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, ", ", ",")
	return strings.ReplaceAll(s, " ", ":")
}

// summary is "qps sent completed lost avg_ms", the form results.tsv keeps.
func (d dnsperfRun) summary() string {
	return fmt.Sprintf("%.0f %s %s %s %.3f", d.qps, d.sent, d.completed, d.lost, d.avgMs)
}

// percentiles is "p50_ms p99_ms" of the NOERROR answers' latencies (dnsperf
// -v), or "- -" without any: the value at rank int(n*p), counted from 1.
func (d dnsperfRun) percentiles() string {
	n := len(d.noerror)
	if n == 0 {
		return "- -"
	}
	v := append([]float64(nil), d.noerror...)
	sort.Float64s(v)
	at := func(p float64) float64 {
		i := int(float64(n) * p)
		if i < 1 {
			i = 1
		}
		return v[i-1] * 1000
	}
	return fmt.Sprintf("%.3f %.3f", at(0.50), at(0.99))
}

// slow is "n>100ms n>400ms n>1s" of the NOERROR answers.
func (d dnsperfRun) slow() string {
	var a, b, c int
	for _, s := range d.noerror {
		if s > 0.1 {
			a++
		}
		if s > 0.4 {
			b++
		}
		if s > 1 {
			c++
		}
	}
	return fmt.Sprintf("%d %d %d", a, b, c)
}

// lowestRate is the lowest answers/s of any 1-s interval (dnsperf -S 1), 0 without any.
func (d dnsperfRun) lowestRate() string {
	m := 0.0
	for i, iv := range d.perSecond {
		if i == 0 || iv.rate < m {
			m = iv.rate
		}
	}
	return fmt.Sprintf("%.0f", m)
}

// num reads a number as awk does: the longest numeric prefix, else 0.
func num(s string) float64 {
	s = strings.TrimSpace(s)
	for end := len(s); end > 0; end-- {
		if v, err := strconv.ParseFloat(s[:end], 64); err == nil {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return 0 // awk reads "inf" and "nan" as 0 too
			}
			return v
		}
	}
	return 0
}

// awkNumber prints a number as awk's print does: an integer as one, anything
// else with "%.6g".
func awkNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e16 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return fmt.Sprintf("%.6g", v)
}

func field(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
