package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestCacheHitCountsTTLDown(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	clk := dnstest.NewClock()
	s, addr := startProxy(t, func(c *Config) { c.Now = clk.Now }, up.Addr)

	first := query(t, "udp", addr, question("c.example.test.", dns.TypeA))
	clk.Advance(100 * time.Second)
	m := question("C.Example.TEST.", dns.TypeA)
	m.Id = 4242
	second := query(t, "udp", addr, m)

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
	query(t, "udp", addr, question("c.example.test.", dns.TypeA))
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
		query(t, "udp", addr, m)
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
			ask := func() *dns.Msg { return query(t, "udp", addr, question("nx.example.test.", dns.TypeA)) }
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
	query(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	clk.Advance(4 * time.Second)
	query(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	if n := up.Queries(); n != 1 {
		t.Fatalf("upstream saw %d queries within servfail_ttl, want 1", n)
	}
	clk.Advance(time.Second)
	query(t, "udp", addr, question("sf.example.test.", dns.TypeA))
	if n := up.Queries(); n != 2 {
		t.Errorf("upstream saw %d queries after servfail_ttl, want 2", n)
	}
}

func TestCacheLifetime(t *testing.T) {
	c, _ := newCache(CacheConfig{Size: 10, MinTTL: 10 * time.Second, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour})
	a := func(ttl uint32) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}}
	}
	msg := func(mod func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg).SetQuestion("x.", dns.TypeA)
		m.Response = true
		mod(m)
		return m
	}
	tests := []struct {
		name string
		m    *dns.Msg
		want time.Duration
	}{
		{"lowest TTL wins", msg(func(m *dns.Msg) { m.Answer = []dns.RR{a(300), a(60)} }), 60 * time.Second},
		{"raised to min_ttl", msg(func(m *dns.Msg) { m.Answer = []dns.RR{a(2)} }), 10 * time.Second},
		{"cut to max_ttl", msg(func(m *dns.Msg) { m.Answer = []dns.RR{a(86400)} }), time.Hour},
		{"truncated never", msg(func(m *dns.Msg) { m.Answer = []dns.RR{a(60)}; m.Truncated = true }), 0},
		{"refused never", msg(func(m *dns.Msg) { m.Rcode = dns.RcodeRefused }), 0},
		{"servfail_ttl 0 never", msg(func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }), 0},
		{"nxdomain: SOA minimum", msg(func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Ns = []dns.RR{testSOA(300, 30)} }), 30 * time.Second},
		{"nodata: SOA TTL", msg(func(m *dns.Msg) { m.Ns = []dns.RR{testSOA(20, 900)} }), 20 * time.Second},
		{"nodata without SOA never", msg(func(m *dns.Msg) {}), 0},
		{"a SOA in the answer is not the negative TTL", msg(func(m *dns.Msg) { m.Rcode = dns.RcodeNameError; m.Answer = []dns.RR{testSOA(300, 30)} }), 0},
		{"extended RCODE never", msg(func(m *dns.Msg) { m.Answer = []dns.RR{a(60)}; m.SetEdns0(1232, false); m.Rcode = dns.RcodeBadVers }), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Compress = true
			b, err := tt.m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			l, err := scanMsg(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.lifetime(b, &l); got != tt.want {
				t.Errorf("lifetime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCacheDisabled(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	s, addr := startProxy(t, func(c *Config) { c.Cache.Size = 0 }, up.Addr)
	query(t, "udp", addr, question("d.example.test.", dns.TypeA))
	query(t, "udp", addr, question("d.example.test.", dns.TypeA))
	if n := up.Queries(); n != 2 {
		t.Errorf("with the cache off the upstream saw %d queries, want 2", n)
	}
	if st := s.Stats(); st.CacheHits != 0 || st.CacheEntries != 0 {
		t.Errorf("stats with the cache off: %+v", st)
	}
}

// TestMissAnswerSentFromTheCacheEntry: a cached miss is sent from the bytes
// the cache holds, not packed a second time. The client gets the bytes a
// server without a cache sends: the upstream's own for a plain answer
// (TestPlainAnswerServedAsItCame), and for the rest the same answer
// compressed, as a cache hit is (a server without a cache sends a UDP
// answer that fits uncompressed). The upstream here echoes the client's
// spelling; when it does not, names compressed against the question take
// the client's spelling as on a hit (RFC 4343: the same names).
func TestMissAnswerSentFromTheCacheEntry(t *testing.T) {
	nsid := &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e7872617921"}
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		m := new(dns.Msg).SetReply(r)
		switch {
		case strings.HasPrefix(strings.ToLower(q.Name), "nx"):
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{testSOA(300, 60)}
		case strings.HasPrefix(strings.ToLower(q.Name), "big"):
			for i := range 40 { // 40 A records: more than 512 bytes
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(192, 0, 2, byte(i))})
			}
		default:
			m.Answer = []dns.RR{
				&dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: "web.example.test."},
				&dns.A{Hdr: dns.RR_Header{Name: "web.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)},
				&dns.A{Hdr: dns.RR_Header{Name: "web.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 2)},
			}
		}
		if opt := r.IsEdns0(); opt != nil {
			m.SetEdns0(1232, opt.Do())
			o := m.IsEdns0()
			o.Option = append(o.Option, nsid, cookie)
		}
		w.WriteMsg(m)
	})
	server := func(cacheSize int) *Server {
		s, err := New(Config{Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}}, ACL: loopbackACL,
			Cache: CacheConfig{Size: cacheSize, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.route.Load().pool.close)
		return s
	}
	cached, uncached := server(1000), server(0)
	tests := []struct {
		name string
		req  func() *dns.Msg
	}{
		{"plain", func() *dns.Msg { return question("www.example.test.", dns.TypeA) }},
		{"0x20 case", func() *dns.Msg { return question("WwW.CaSe.ExAmPlE.TeSt.", dns.TypeA) }},
		{"escaped label", func() *dns.Msg { return question(`w\.w\065.example.test.`, dns.TypeA) }},
		{"no RD", func() *dns.Msg { m := question("rd.example.test.", dns.TypeA); m.RecursionDesired = false; return m }},
		{"EDNS0 with DO and cookie", func() *dns.Msg {
			m := question("do.example.test.", dns.TypeA)
			m.SetEdns0(4096, true)
			m.IsEdns0().Option = append(m.IsEdns0().Option, cookie)
			return m
		}},
		{"NXDOMAIN", func() *dns.Msg { return question("nx.example.test.", dns.TypeA) }},
		{"NXDOMAIN with EDNS0", func() *dns.Msg { m := question("NX2.example.test.", dns.TypeA); m.SetEdns0(1232, false); return m }},
		{"too big for the client", func() *dns.Msg { return question("big.example.test.", dns.TypeA) }},
		{"big, fits EDNS0", func() *dns.Msg { m := question("big2.example.test.", dns.TypeA); m.SetEdns0(4096, false); return m }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			b, _ := req.Pack()
			req.Unpack(b) // as it arrives: names as miekg/dns spells them
			plain, got := newRecorder(), newRecorder()
			uncached.ServeDNS(plain, req.Copy())
			before := cached.cache.len()
			cached.ServeDNS(got, req.Copy())
			if cached.cache.len() != before+1 {
				t.Fatalf("the answer was not cached: the test does not exercise the cached miss")
			}
			if bytes.Equal(got.out, plain.out) {
				return // a plain answer: the upstream's bytes, both times
			}
			// Packed by nxray: compressed from the cache, not without it.
			want := new(dns.Msg)
			if err := want.Unpack(plain.out); err != nil {
				t.Fatal(err)
			}
			want.Compress = true
			wantb, _ := want.Pack()
			if !bytes.Equal(got.out, wantb) {
				g := new(dns.Msg)
				g.Unpack(got.out)
				t.Errorf("cached miss wrote\n%x\n%v\nwant\n%x\n%v", got.out, g, wantb, want)
			}
		})
	}
}

// TestCachedMissKeepsClientSpelling: an upstream that answers with the
// question lowercased; the client still gets its own spelling back, on the
// miss (sent from the cache entry's bytes) as on the hit.
func TestCachedMissKeepsClientSpelling(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Question[0].Name = strings.ToLower(m.Question[0].Name)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: m.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(192, 0, 2, 1)}}
		w.WriteMsg(m)
	})
	s, err := New(Config{Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}}, ACL: loopbackACL,
		Cache: CacheConfig{Size: 1000, MaxTTL: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.route.Load().pool.close)
	for _, pass := range []string{"miss", "hit"} {
		w := newRecorder()
		s.ServeDNS(w, question("WwW.ExAmPlE.TeSt.", dns.TypeA))
		m := new(dns.Msg)
		if err := m.Unpack(w.out); err != nil {
			t.Fatal(err)
		}
		if got := m.Question[0].Name; got != "WwW.ExAmPlE.TeSt." {
			t.Errorf("%s: question %q, want the client's spelling", pass, got)
		}
	}
	if n := up.Queries(); n != 1 {
		t.Errorf("upstream saw %d queries, want 1 (a miss, then a hit)", n)
	}
}

// A random-subdomain flood does not push the answers that exist out of the
// cache: negative answers are kept apart, in a part of their own. Once that
// part is full of live answers, a negative answer is cached the second time
// it is asked, so the flood's names, asked once each, do not push out one
// that clients keep asking for.
func TestFloodKeepsAnswersCached(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if strings.HasPrefix(r.Question[0].Name, "www") {
			dnstest.AnswerA("192.0.2.1", 300)(w, r)
		} else {
			answerRcode(dns.RcodeNameError, testSOA(3600, 300))(w, r)
		}
	})
	s, addr := startProxy(t, func(c *Config) { c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	const names, flood = 20, 200
	ask := func(format string, from, to int, rcode int) {
		t.Helper()
		for i := from; i < to; i++ {
			if r := query(t, "udp", addr, question(fmt.Sprintf(format, i), dns.TypeA)); r.Rcode != rcode {
				t.Fatalf("%s: %s, want %s", fmt.Sprintf(format, i), dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
			}
		}
	}
	upstreamFor := func(f func()) int {
		t.Helper()
		before := up.Queries()
		f()
		return up.Queries() - before
	}
	ask("www%d.example.test.", 0, names, dns.RcodeSuccess)
	if n := upstreamFor(func() { ask("rnd%d.example.test.", 0, 10, dns.RcodeNameError) }); n != 10 {
		t.Fatalf("the first 10 flood names: %d upstream queries, want 10", n)
	}
	// The negative part is full of live answers: a name asked once more is
	// not cached the first time, and is the second.
	if n := upstreamFor(func() {
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
	}); n != 2 {
		t.Errorf("a negative answer asked three times with the negative part full: %d upstream queries, want 2", n)
	}
	ask("rnd%d.example.test.", 10, flood, dns.RcodeNameError)
	if n := upstreamFor(func() { ask("www%d.example.test.", 0, names, dns.RcodeSuccess) }); n != 0 {
		t.Errorf("after a flood of %d names that do not exist, %d of %d cached answers had to be asked again", flood, n, names)
	}
	if n := upstreamFor(func() { ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError) }); n != 0 {
		t.Errorf("after the flood, the negative answer asked again had to be asked upstream: %d queries, want 0", n)
	}
	// A flood name asked a second time is let in, and then cached.
	if n := upstreamFor(func() {
		ask("rnd%d.example.test.", flood-1, flood, dns.RcodeNameError)
		ask("rnd%d.example.test.", flood-1, flood, dns.RcodeNameError)
	}); n != 1 {
		t.Errorf("the flood's last name, asked twice more: %d upstream queries, want 1", n)
	}
	st := s.Stats()
	if st.CacheEntries != names+10 {
		t.Errorf("%d entries cached, want %d answers and 10 negative ones", st.CacheEntries, names)
	}
	if want := uint64(1 + flood - 10); st.CacheSkipped != want {
		t.Errorf("CacheSkipped = %d, want %d (wpad's first answer and the flood's names past the 10th)", st.CacheSkipped, want)
	}
}

// A name's types are told apart by the doorkeeper: a client asking AAAA and
// HTTPS in turn, both negative, gets each cached on its second ask.
func TestNegativeTypesAdmittedApart(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(3600, 300)))
	_, addr := startProxy(t, func(c *Config) { c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	for i := range 10 { // the negative part, full of live answers
		query(t, "udp", addr, question(fmt.Sprintf("rnd%d.example.test.", i), dns.TypeA))
	}
	for range 2 {
		query(t, "udp", addr, question("wpad.example.test.", dns.TypeAAAA))
		query(t, "udp", addr, question("wpad.example.test.", dns.TypeHTTPS))
	}
	before := up.Queries()
	query(t, "udp", addr, question("wpad.example.test.", dns.TypeAAAA))
	query(t, "udp", addr, question("wpad.example.test.", dns.TypeHTTPS))
	if n := up.Queries() - before; n != 0 {
		t.Errorf("AAAA and HTTPS asked in turn, twice each, then again: %d of 2 went upstream, want 0", n)
	}
}

// While the negative part is full only of answers that have expired, a
// negative answer is cached the first time: nothing live would be lost.
func TestNegativeCachedFirstTimeWhenOnlyDeadAnswersGo(t *testing.T) {
	clk := dnstest.NewClock()
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(3600, 60)))
	s, addr := startProxy(t, func(c *Config) { c.Now = clk.Now; c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	for i := range 10 {
		query(t, "udp", addr, question(fmt.Sprintf("old%d.example.test.", i), dns.TypeA))
	}
	clk.Advance(61 * time.Second)
	query(t, "udp", addr, question("new.example.test.", dns.TypeA))
	before := up.Queries()
	query(t, "udp", addr, question("new.example.test.", dns.TypeA))
	if n := up.Queries() - before; n != 0 {
		t.Errorf("the second ask of a name cached over expired answers went upstream (%d queries)", n)
	}
	if st := s.Stats(); st.CacheSkipped != 0 {
		t.Errorf("CacheSkipped = %d, want 0", st.CacheSkipped)
	}
}

// TestPlainAnswerServedAsItCame: a plain answer (plainAnswer) goes to the
// client, and into the cache, as the upstream packed it, with only the
// client's ID and spelling and, under EDNS0, nxray's buffer size and no
// flags but DO in the OPT record, as fitOPT would make them.
func TestPlainAnswerServedAsItCame(t *testing.T) {
	answer := func(r *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(r)
		m.RecursionAvailable = true
		if strings.HasPrefix(r.Question[0].Name, "nx") {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{testSOA(300, 60)}
		} else {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, 1)}}
		}
		if opt := r.IsEdns0(); opt != nil {
			m.SetEdns0(4096, true)
			m.IsEdns0().SetZ(0x1234) // flags fitOPT would not keep
		}
		return m // packed uncompressed: nxray would compress what it packs
	}
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		b, err := answer(r).Pack()
		if err != nil {
			t.Error(err)
		}
		w.Write(b)
	})
	clk := dnstest.NewClock()
	_, addr := startProxy(t, func(c *Config) { c.Now = clk.Now }, up.Addr)
	queries := 0
	for _, tt := range []struct {
		name string
		edns bool
	}{{"www.example.test.", false}, {"edns.example.test.", true}, {"nx.example.test.", false}, {"nx2.example.test.", true}} {
		t.Run(tt.name, func(t *testing.T) {
			q := question(tt.name, dns.TypeA)
			if tt.edns {
				q.SetEdns0(1232, true)
			}
			want := answer(q)
			want.Question[0].Name = tt.name
			if opt := want.IsEdns0(); opt != nil {
				opt.SetUDPSize(maxUDPSize)
				opt.SetZ(0)
			}
			wantb, _ := want.Pack()
			for _, pass := range []string{"miss", "hit"} {
				q.Id++
				binary.BigEndian.PutUint16(wantb, q.Id)
				got, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				c, err := net.Dial("udp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(got)
				buf := make([]byte, 4096)
				n, err := c.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				// A hit counts TTLs down within the cache lifetime (60 s for
				// the NXDOMAIN, from the SOA), so only its length must match:
				// the upstream's packing, not nxray's, which compresses.
				if pass == "miss" && !bytes.Equal(buf[:n], wantb) || n != len(wantb) {
					t.Errorf("%s: got\n%x\nwant the upstream's bytes\n%x", pass, buf[:n], wantb)
				}
			}
			if up.Queries() != queries+1 {
				t.Errorf("upstream asked %d times, want once: the hit was not cached", up.Queries()-queries)
			}
			queries++
		})
	}
}
