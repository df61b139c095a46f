package proxy

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestCacheHitCountsTTLDown(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	clk := dnstest.NewClock()
	s, addr := startProxy(t, func(c *Config) { c.Now = clk.Now }, up.Addr)

	first := ask(t, "udp", addr, question("c.example.test.", dns.TypeA))
	clk.Advance(100 * time.Second)
	m := question("C.Example.TEST.", dns.TypeA)
	m.Id = 4242
	second := ask(t, "udp", addr, m)

	if n := up.Queries(); n != 1 {
		t.Fatalf("upstream saw %d queries, want 1: the second should be a cache hit", n)
	}
	if got := first.Answer[0].Header().Ttl; got != 300 {
		t.Errorf("first TTL = %d, want 300", got)
	}
	if got := second.Answer[0].Header().Ttl; got != 200 {
		t.Errorf("TTL after 100s in the cache = %d, want 200", got)
	}
	if second.Id != 4242 || second.Question[0].Name != "C.Example.TEST." {
		t.Errorf("cache hit answered id %d for %q, want the client's id and spelling", second.Id, second.Question[0].Name)
	}
	if st := s.Stats(); st.CacheHits != 1 || st.CacheMisses != 1 {
		t.Errorf("hits/misses = %d/%d, want 1/1", st.CacheHits, st.CacheMisses)
	}
	clk.Advance(200 * time.Second)
	ask(t, "udp", addr, question("c.example.test.", dns.TypeA))
	if n := up.Queries(); n != 2 {
		t.Errorf("after the TTL ran out the upstream saw %d queries, want 2", n)
	}
}

func TestCacheKeyedByFlags(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	_, addr := startProxy(t, nil, up.Addr)
	plain := question("k.example.test.", dns.TypeA)
	do := question("k.example.test.", dns.TypeA)
	do.SetEdns0(1232, true)
	cd := question("k.example.test.", dns.TypeA)
	cd.CheckingDisabled = true
	aaaa := question("k.example.test.", dns.TypeAAAA)
	for _, m := range []*dns.Msg{plain, do, cd, aaaa, plain, do, cd, aaaa} {
		ask(t, "udp", addr, m)
	}
	if n := up.Queries(); n != 4 {
		t.Errorf("upstream saw %d queries, want 4 (one per distinct type, DO and CD)", n)
	}
}

func TestNegativeCachingFollowsSOA(t *testing.T) {
	tests := []struct {
		name    string
		rcode   int
		soa     *dns.SOA
		negMax  time.Duration
		cachedS int // seconds the answer stays cached; 0 for not at all
	}{
		{"nxdomain bounded by SOA minimum", dns.RcodeNameError, testSOA(3600, 30), time.Hour, 30},
		{"nxdomain bounded by SOA TTL", dns.RcodeNameError, testSOA(20, 900), time.Hour, 20},
		{"nxdomain bounded by negative_max_ttl", dns.RcodeNameError, testSOA(3600, 3600), time.Minute, 60},
		{"nodata bounded by SOA minimum", dns.RcodeSuccess, testSOA(3600, 45), time.Hour, 45},
		{"nxdomain without SOA not cached", dns.RcodeNameError, nil, time.Hour, 0},
		{"nodata without SOA not cached", dns.RcodeSuccess, nil, time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := dnstest.Start(t, answerRcode(tt.rcode, tt.soa))
			clk := dnstest.NewClock()
			_, addr := startProxy(t, func(c *Config) {
				c.Now = clk.Now
				c.Cache.NegativeMaxTTL = tt.negMax
			}, up.Addr)
			ask := func() *dns.Msg { return ask(t, "udp", addr, question("nx.example.test.", dns.TypeA)) }
			ask()
			if tt.cachedS == 0 {
				ask()
				if n := up.Queries(); n != 2 {
					t.Errorf("upstream saw %d queries, want 2: no SOA, no caching", n)
				}
				return
			}
			clk.Advance(time.Duration(tt.cachedS-1) * time.Second)
			r := ask()
			if n := up.Queries(); n != 1 {
				t.Fatalf("within %ds the upstream saw %d queries, want 1", tt.cachedS, n)
			}
			if r.Rcode != tt.rcode {
				t.Errorf("cached rcode = %s", dns.RcodeToString[r.Rcode])
			}
			if got := r.Ns[0].Header().Ttl; got != 1 {
				t.Errorf("cached SOA TTL = %d one second before expiry, want 1", got)
			}
			clk.Advance(time.Second)
			ask()
			if n := up.Queries(); n != 2 {
				t.Errorf("after %ds the upstream saw %d queries, want 2", tt.cachedS, n)
			}
		})
	}
}

func TestServfailCachedBriefly(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeServerFailure, nil))
	clk := dnstest.NewClock()
	_, addr := startProxy(t, func(c *Config) {
		c.Now = clk.Now
		c.FailoverRcodes = nil
		c.Cache.ServfailTTL = 5 * time.Second
	}, up.Addr)
	ask(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	clk.Advance(4 * time.Second)
	ask(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	if n := up.Queries(); n != 1 {
		t.Fatalf("upstream saw %d queries within servfail_ttl, want 1", n)
	}
	clk.Advance(time.Second)
	ask(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	if n := up.Queries(); n != 2 {
		t.Errorf("upstream saw %d queries after servfail_ttl, want 2", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	s, addr := startProxy(t, func(c *Config) { c.Cache.Size = 0 }, up.Addr)
	ask(t, "udp", addr, question("d.example.test.", dns.TypeA))
	ask(t, "udp", addr, question("d.example.test.", dns.TypeA))
	if n := up.Queries(); n != 2 {
		t.Errorf("with the cache off the upstream saw %d queries, want 2", n)
	}
	if st := s.Stats(); st.CacheHits != 0 || st.CacheEntries != 0 {
		t.Errorf("stats with the cache off: %+v", st)
	}
}
