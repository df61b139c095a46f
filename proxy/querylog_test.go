package proxy

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// recordingLog keeps what the query log is told.
type recordingLog struct {
	mu   sync.Mutex
	seen []Query
}

func (l *recordingLog) LogQuery(q Query) {
	q.Name = strings.Clone(q.Name) // valid during the call only
	l.mu.Lock()
	l.seen = append(l.seen, q)
	l.mu.Unlock()
}

func (l *recordingLog) all() []Query {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Query(nil), l.seen...)
}

// TestQueryLogHook: every answered query is logged once, before its answer is
// written, on every path: forwarded, from the cache, nxray's own answers,
// and no upstream answering; over UDP and TCP.
func TestQueryLogHook(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	log := new(recordingLog)
	_, addr := startProxy(t, func(c *Config) { c.QueryLog = log }, up.Addr)
	deadLog := new(recordingLog)
	_, deadAddr := startProxy(t, func(c *Config) { c.QueryLog = deadLog; c.HealthInterval = time.Hour },
		dnstest.DeadAddr(t))
	tests := []struct {
		name, net, addr string
		log             *recordingLog
		m               *dns.Msg
		want            Query
	}{
		{"forwarded over UDP", "udp", addr, log, question("WWW.example.test.", dns.TypeA),
			Query{Name: "WWW.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Upstream: up.Addr}},
		{"from the cache", "udp", addr, log, question("www.example.test.", dns.TypeA),
			Query{Name: "www.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Cached: true}},
		{"forwarded over TCP", "tcp", addr, log, question("tcp.example.test.", dns.TypeAAAA),
			Query{Name: "tcp.example.test.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Upstream: up.Addr}},
		{"nxray's own answer", "tcp", addr, log, question("example.test.", dns.TypeAXFR),
			Query{Name: "example.test.", Qtype: dns.TypeAXFR, Rcode: dns.RcodeRefused}},
		{"no upstream answered", "udp", deadAddr, deadLog, question("dead.example.test.", dns.TypeA),
			Query{Name: "dead.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.log.all())
			start := time.Now()
			ask(t, tt.net, tt.addr, tt.m)
			got := tt.log.all()
			if len(got) != before+1 {
				t.Fatalf("%d queries logged for one answer", len(got)-before)
			}
			q := got[len(got)-1]
			if q.Time.Before(start.Add(-time.Second)) || q.Time.After(time.Now()) || q.Duration <= 0 ||
				q.Client != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("logged %+v: time, duration or client wrong", q)
			}
			q.Time, q.Duration, q.Client = time.Time{}, 0, netip.Addr{}
			if q != tt.want {
				t.Errorf("logged %+v, want %+v", q, tt.want)
			}
		})
	}
}

// chanLog is a query log as internal/history's: a non-blocking send to a
// bounded channel that one goroutine drains.
type chanLog chan Query

func (c chanLog) LogQuery(q Query) {
	q.Name = strings.Clone(q.Name)
	select {
	case c <- q:
	default:
	}
}

// BenchmarkCacheHitQueryLog is BenchmarkCacheHit with a query log on.
func BenchmarkCacheHitQueryLog(b *testing.B) {
	s, up := cachingServer(b)
	ch := make(chanLog, 8192)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
		}
	}()
	s.cfg.QueryLog = ch
	benchServeHit(b, s, up, "www.example.test.")
	close(ch)
	<-done
}
