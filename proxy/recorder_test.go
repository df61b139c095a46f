package proxy

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// The query log says what the client got: SERVFAIL when no upstream
// answered, and a line too for the answers nxray gives itself (a zone
// transfer refused, a query with two OPT records, a client outside the ACL).
func TestQueryLogRcodes(t *testing.T) {
	dead := dnstest.DeadAddr(t)
	events := dnstest.NewLog()
	_, addr := startProxy(t, func(c *Config) {
		c.LogQueries = true
		c.Logger = events.Logger()
		c.HealthInterval = time.Hour
	}, dead)
	twoOPT := question("two.example.test.", dns.TypeA)
	twoOPT.Extra = append(twoOPT.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}},
		&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
	tests := []struct {
		name  string
		net   string
		m     *dns.Msg
		rcode int
		want  []string
	}{
		{"no upstream answered", "udp", question("dead.example.test.", dns.TypeA), dns.RcodeServerFailure,
			[]string{"name=dead.example.test.", "qtype=A", "rcode=SERVFAIL", "upstream= ", "cached=false"}},
		{"zone transfer", "tcp", question("example.test.", dns.TypeAXFR), dns.RcodeRefused,
			[]string{"name=example.test.", "qtype=AXFR", "rcode=REFUSED", "cached=false"}},
		{"two OPT records", "udp", twoOPT, dns.RcodeFormatError, []string{"name=two.example.test.", "rcode=FORMERR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := ask(t, tt.net, addr, tt.m); r.Rcode != tt.rcode {
				t.Fatalf("answer %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			line := events.Wait(t, "query")
			for _, want := range append([]string{"query ", "client=127.0.0.1", "duration_ms="}, tt.want...) {
				if !strings.Contains(line, want) {
					t.Errorf("query line %q lacks %q", line, want)
				}
			}
		})
	}
}

// A client outside the ACL is answered REFUSED, and the query log says so.
func TestQueryLogACLRefused(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	events := dnstest.NewLog()
	_, addr := startProxy(t, func(c *Config) {
		c.LogQueries = true
		c.Logger = events.Logger()
		c.ACL = nil
	}, up.Addr)
	if r := ask(t, "udp", addr, question("outside.example.test.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
		t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	line := events.Wait(t, "query")
	for _, want := range []string{"query ", "name=outside.example.test.", "rcode=REFUSED", "duration_ms="} {
		if !strings.Contains(line, want) {
			t.Errorf("query line %q lacks %q", line, want)
		}
	}
}

// duration_ms is the query's time by the server's clock, in milliseconds
// with microseconds.
func TestQueryLogDuration(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	events := dnstest.NewLog()
	clk := dnstest.NewClock()
	var armed atomic.Bool
	_, addr := startProxy(t, func(c *Config) {
		c.LogQueries = true
		c.Logger = events.Logger()
		c.Now = func() time.Time {
			now := clk.Now()
			if armed.CompareAndSwap(true, false) { // the query's read
				clk.Advance(1500 * time.Microsecond)
			}
			return now
		}
	}, up.Addr)
	armed.Store(true)
	ask(t, "udp", addr, question("slow.example.test.", dns.TypeA))
	if line := events.Wait(t, "query"); !strings.Contains(line, "duration_ms=1.5 ") && !strings.HasSuffix(line, "duration_ms=1.5") {
		t.Errorf("query line %q: want duration_ms=1.5", line)
	}
}

// elapsed reads only the monotonic clock for time.Now's readings, and the
// server's clock for a test clock's, which carry none.
func TestElapsed(t *testing.T) {
	clk := dnstest.NewClock()
	s, err := New(Config{Upstreams: []Upstream{{Net: "udp", Addr: "127.0.0.1:1"}}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	clk.Advance(3 * time.Millisecond)
	if d := s.elapsed(start); d != 3*time.Millisecond {
		t.Errorf("test clock: elapsed %v, want 3ms", d)
	}
	real := time.Now()
	if d := s.elapsed(real); d < 0 || d > time.Minute {
		t.Errorf("real clock: elapsed %v", d)
	}
}

// timingRecorder keeps each answer's labels and duration, and each try's
// rcode.
type timingRecorder struct {
	mu      sync.Mutex
	answers []string        // "proto cached"
	ds      []time.Duration // in step with answers
	tries   []string        // "upstream rcode" or "upstream error"
}

func (r *timingRecorder) Answered(proto string, rcode int, cached bool, _ time.Time, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, proto+" "+strconv.FormatBool(cached))
	r.ds = append(r.ds, d)
}

func (r *timingRecorder) Tried(upstream string, _ time.Duration, rcode int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	what := dns.RcodeToString[rcode]
	if err != nil {
		what = "error"
	}
	r.tries = append(r.tries, upstream+" "+what)
}

// Every path tells the Recorder how long the answer took, and every try
// at an upstream the rcode it answered.
func TestRecorderDurationAndUpstreamRcode(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(60, 60)))
	rec := &timingRecorder{}
	_, addr := startProxy(t, func(c *Config) { c.Recorder = rec }, up.Addr)
	q := withEDNS(question("gone.example.test.", dns.TypeA), 1232, false)
	ask(t, "udp", addr, q) // a miss
	ask(t, "tcp", addr, q) // a hit
	ask(t, "udp", addr, withEDNS(question("other.example.test.", dns.TypeA), 1232, false))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := []string{"udp false", "tcp true", "udp false"}; strings.Join(rec.answers, ",") != strings.Join(want, ",") {
		t.Errorf("answers %v, want %v", rec.answers, want)
	}
	for i, d := range rec.ds {
		if d <= 0 || d > 3*time.Second {
			t.Errorf("answer %d took %v", i, d)
		}
	}
	if want := up.Addr + " NXDOMAIN"; len(rec.tries) != 2 || rec.tries[0] != want || rec.tries[1] != want {
		t.Errorf("tries %v, want two %q", rec.tries, want)
	}
}

// The UDP cache hit with a Recorder: one clock read more, no allocation.
func BenchmarkUDPCacheHitRecorded(b *testing.B) {
	s, _ := cachingServer(b)
	s.cfg.Recorder = nopRecorder{}
	benchUDPHit(b, s)
}

type nopRecorder struct{}

func (nopRecorder) Answered(string, int, bool, time.Time, time.Duration) {}
func (nopRecorder) Tried(string, time.Duration, int, error)              {}
