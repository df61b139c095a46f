package dnscache

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.Id = 0x1234
	return m
}

func withEDNS(m *dns.Msg, size uint16, do bool) *dns.Msg {
	m.SetEdns0(size, do)
	return m
}

func testSOA(ttl, minttl uint32) *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns: "ns.example.test.", Mbox: "hostmaster.example.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: minttl}
}

// firstSOA is the first SOA record in m's authority section, or nil.
func firstSOA(m *dns.Msg) *dns.SOA {
	for _, rr := range m.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			return s
		}
	}
	return nil
}

// plainAnswer passes on unread only answers that unpacking would take as
// they are; every way of failing that sends the answer to be unpacked.
func TestPlainAnswer(t *testing.T) {
	q := question("www.example.test.", dns.TypeA)
	qb, _ := q.Pack()
	qe := withEDNS(question("www.example.test.", dns.TypeA), 1232, true)
	qeb, _ := qe.Pack()
	answer := func(q *dns.Msg, rrs ...string) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		m.Compress = true
		return m
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := pack(answer(q, "www.example.test. 60 IN A 192.0.2.1"))
	rich := pack(answer(q, "www.example.test. 60 IN CNAME web.example.test.", "web.example.test. 60 IN AAAA 2001:db8::1",
		"web.example.test. 60 IN MX 10 mail.example.test.", `web.example.test. 60 IN TXT "a" "bc"`,
		"web.example.test. 60 IN SRV 1 2 53 ns.example.test.", "web.example.test. 60 IN A 192.0.2.1"))
	nx := answer(q)
	nx.Rcode, nx.Ns = dns.RcodeNameError, []dns.RR{testSOA(60, 30)}
	withOPT := answer(qe, "www.example.test. 60 IN A 192.0.2.1")
	withOPT.SetEdns0(4096, true)
	withEDE := answer(qe)
	withEDE.SetEdns0(1232, false)
	withEDE.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther}}
	servfail := answer(q)
	servfail.Rcode = dns.RcodeServerFailure
	upper := answer(question("WWW.Example.TEST.", dns.TypeA), "www.example.test. 60 IN A 192.0.2.1")
	upper.Id = q.Id
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	// the A record's data, the last 4 bytes of a: its RDLENGTH is at len-6
	for _, tt := range []struct {
		name  string
		b, q  []byte
		plain bool
	}{
		{"A", a, qb, true},
		{"every common type, compressed", rich, qb, true},
		{"NXDOMAIN with SOA", pack(nx), qb, true},
		{"OPT without options", pack(withOPT), qeb, true},
		{"question in another case", pack(upper), qb, true},
		{"OPT with an EDE option", pack(withEDE), qeb, false},
		{"OPT to a query without", pack(withOPT), qb, false},
		{"no OPT to a query with one", a, qeb, false},
		{"SERVFAIL", pack(servfail), qb, false},
		{"truncated", mod(a, func(b []byte) []byte { b[2] |= 0x02; return b }), qb, false},
		{"another ID", mod(a, func(b []byte) []byte { b[1]++; return b }), qb, false},
		{"another type asked", mod(a, func(b []byte) []byte { b[HeaderLen+18]++; return b }), qb, false},
		{"bytes after the records", append(append([]byte(nil), a...), 0), qb, false},
		{"A data of 3 bytes", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-6:], 3); return b[:len(b)-1] }), qb, false},
		{"owner pointing forward", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-16:], 0xC000|uint16(len(b)-4)); return b }), qb, false},
		{"owner pointing into the header", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-16:], 0xC002); return b }), qb, false},
		{"a type it does not check", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-14:], dns.TypeCAA); return b }), qb, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := PlainAnswer(tt.b, tt.q); got != tt.plain {
				t.Errorf("PlainAnswer = %v, want %v", got, tt.plain)
			}
			if tt.plain {
				if err := new(dns.Msg).Unpack(tt.b); err != nil {
					t.Errorf("a plain answer miekg/dns cannot read: %v", err)
				}
			}
		})
	}
}

// FuzzScan feeds arbitrary bytes to the cache's wire reader: it must
// never panic, and on a message miekg/dns can read it must find every TTL,
// the OPT record and the negative TTL's SOA. WireSOA, which reads a
// failure's SOA from the bytes, must not panic either, and must find the
// SOA the full path finds in the unpacked message.
func FuzzScan(f *testing.F) {
	m := question("x.example.test.", dns.TypeA)
	m.Response = true
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 9}, A: net.IPv4(192, 0, 2, 1)}}
	m.Ns = []dns.RR{testSOA(60, 30)}
	m.SetEdns0(1232, true)
	m.Compress = true
	b, _ := m.Pack()
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Scan(b)
		soa, _ := WireSOA(b)
		msg := new(dns.Msg)
		if msg.Unpack(b) != nil || err != nil {
			return
		}
		if want := firstSOA(msg); (soa == nil) != (want == nil) || soa != nil && *soa != *want {
			t.Fatalf("wireSOA read %v, the message has %v", soa, want)
		}
		want, opts := len(msg.Answer)+len(msg.Ns)+len(msg.Extra), 0
		for _, rr := range append(append(msg.Answer, msg.Ns...), msg.Extra...) {
			if rr.Header().Rrtype == dns.TypeOPT {
				want--
				opts++
			}
		}
		if len(l.refs) != want || l.opts != opts {
			t.Fatalf("found %d TTLs and %d OPT records, message has %d and %d", len(l.refs), l.opts, want, opts)
		}
		for _, rr := range msg.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				if !l.soa || l.soaTTL != soa.Hdr.Ttl || l.soaMin != soa.Minttl {
					t.Fatalf("SOA TTL %d MINIMUM %d read as %v %d %d", soa.Hdr.Ttl, soa.Minttl, l.soa, l.soaTTL, l.soaMin)
				}
				break
			}
		}
	})
}

func TestCacheLifetime(t *testing.T) {
	c, _ := New(Config{Size: 10, MinTTL: 10 * time.Second, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour})
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
			l, err := Scan(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.lifetime(b, &l); got != tt.want {
				t.Errorf("lifetime = %v, want %v", got, tt.want)
			}
		})
	}
}
