package proxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// What a cached answer goes out as: the bytes the cache holds, in the
// client's spelling.

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
		t.Cleanup(s.route.Load().pool.Close)
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
			before := cached.cache.Len()
			cached.ServeDNS(got, req.Copy())
			if cached.cache.Len() != before+1 {
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
	t.Cleanup(s.route.Load().pool.Close)
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
