package proxy

import (
	"encoding/binary"
	"testing"

	"github.com/miekg/dns"
)

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
		{"another type asked", mod(a, func(b []byte) []byte { b[headerLen+18]++; return b }), qb, false},
		{"bytes after the records", append(append([]byte(nil), a...), 0), qb, false},
		{"A data of 3 bytes", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-6:], 3); return b[:len(b)-1] }), qb, false},
		{"owner pointing forward", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-16:], 0xC000|uint16(len(b)-4)); return b }), qb, false},
		{"owner pointing into the header", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-16:], 0xC002); return b }), qb, false},
		{"a type it does not check", mod(a, func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(b)-14:], dns.TypeCAA); return b }), qb, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := plainAnswer(tt.b, tt.q); got != tt.plain {
				t.Errorf("plainAnswer = %v, want %v", got, tt.plain)
			}
			if tt.plain {
				if err := new(dns.Msg).Unpack(tt.b); err != nil {
					t.Errorf("a plain answer miekg/dns cannot read: %v", err)
				}
			}
		})
	}
}
