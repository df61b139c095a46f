package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// fixable answers NXDOMAIN (with a SOA, so it is cached for an hour) until
// fixed is set, then an A record: a zone someone repairs.
func fixable(fixed *atomic.Bool) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		if !fixed.Load() {
			answerRcode(dns.RcodeNameError, testSOA(3600, 3600))(w, r)
			return
		}
		dnstest.AnswerA("192.0.2.7", 60)(w, r)
	}
}

// After a fix upstream, a flush of the name (or its zone, or everything)
// sends the next query upstream again, over UDP and TCP, and the fixed
// answer is served rather than the cached NXDOMAIN.
func TestFlushAsksAgain(t *testing.T) {
	for _, flush := range []string{"www.example.test.", "Example.TEST", ""} {
		t.Run("flush "+flush, func(t *testing.T) {
			var fixed atomic.Bool
			up := dnstest.Start(t, fixable(&fixed))
			srv, addr := startProxy(t, nil, up.Addr)
			for _, network := range []string{"udp", "tcp"} {
				if r := ask(t, network, addr, question("www.example.test.", dns.TypeA)); r.Rcode != dns.RcodeNameError {
					t.Fatalf("before the fix over %s: %s, want NXDOMAIN", network, dns.RcodeToString[r.Rcode])
				}
			}
			ask(t, "udp", addr, question("other.example.org.", dns.TypeA))
			fixed.Store(true)
			if r := ask(t, "udp", addr, question("www.example.test.", dns.TypeA)); r.Rcode != dns.RcodeNameError || up.Queries() != 2 {
				t.Fatalf("before the flush: %s after %d upstream queries, want the cached NXDOMAIN after 2",
					dns.RcodeToString[r.Rcode], up.Queries())
			}
			n, err := srv.Flush(flush)
			want := 1 // UDP and TCP ask with the same flags: one entry
			if flush == "" {
				want = 2
			}
			if err != nil || n != want {
				t.Errorf("Flush(%q) = %d, %v; want %d", flush, n, err, want)
			}
			for _, network := range []string{"udp", "tcp"} {
				r := ask(t, network, addr, question("www.example.test.", dns.TypeA))
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Answer[0].(*dns.A).A.Equal(net.ParseIP("192.0.2.7")) {
					t.Errorf("after the flush over %s: %v, want the fixed answer", network, r)
				}
			}
			if up.Queries() != 3 {
				t.Errorf("upstream saw %d queries, want 3: one more after the flush, then a cache hit", up.Queries())
			}
		})
	}
}

func TestFlushRefusesBadNames(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	srv, _ := startProxy(t, nil, up.Addr)
	for _, name := range []string{"a..b", "with space.example.", strings.Repeat("a", 64) + ".example.", "x\n."} {
		if _, err := srv.Flush(name); !errors.Is(err, ErrBadName) {
			t.Errorf("Flush(%q): %v, want ErrBadName", name, err)
		}
	}
}

// Without a cache there is nothing to flush, and that is no error.
func TestFlushWithoutCache(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	srv, _ := startProxy(t, func(c *Config) { c.Cache = CacheConfig{} }, up.Addr)
	if n, err := srv.Flush("example.test."); n != 0 || err != nil {
		t.Errorf("Flush = %d, %v; want 0, nil", n, err)
	}
}

// CheckUpstreams asks the default pool's upstreams and each forward zone's
// and names every one that does not answer, with its zone.
func TestCheckUpstreams(t *testing.T) {
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	silent, _ := dnstest.Blackhole(t)
	dead := dnstest.DeadAddr(t)
	zones := []Zone{
		{Zone: "corp.example.", Upstreams: []Upstream{{Net: "tcp", Addr: dead}, {Net: "udp", Addr: good.Addr}}},
		{Zone: "lab.example.", Upstreams: []Upstream{{Net: "udp", Addr: good.Addr}}},
	}
	srv, _ := startProxy(t, func(c *Config) { c.Zones = zones; c.Timeout = 300 * time.Millisecond }, good.Addr, silent)
	got := map[string]string{}
	for _, f := range srv.CheckUpstreams(context.Background()) {
		got[f.Zone+"="+f.Upstream] = f.Err.Error()
	}
	want := map[string]string{"=" + silent: "no answer to . NS", "corp.example.=tcp://" + dead: "corp.example. SOA"}
	if len(got) != len(want) {
		t.Fatalf("CheckUpstreams = %v, want failures of %v", got, want)
	}
	for k, w := range want {
		if !strings.Contains(got[k], w) {
			t.Errorf("%s: %q, want %q in it", k, got[k], w)
		}
	}
	if good.Queries() != 3 {
		t.Errorf("the good upstream was asked %d questions, want 3 (one per pool)", good.Queries())
	}
}
