package dnscache

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseQuery: whatever ParseQuery reads, miekg/dns reads the same way:
// the same cache key, header bits and EDNS0 buffer size. A query it leaves
// to miekg/dns costs only speed; one it misreads would be answered from
// another name's cache entry.
func FuzzParseQuery(f *testing.F) {
	for _, m := range []*dns.Msg{
		question("www.Example.test.", dns.TypeA),
		withEDNS(question("a-b_c.example.test.", dns.TypeAAAA), 4096, true),
		question(strings.Repeat(strings.Repeat("a", 63)+".", 3)+strings.Repeat("b", 61)+".", dns.TypeTXT), // 255 bytes
		question(`<img\032src=x>.example.test.`, dns.TypeTXT),
		question(".", dns.TypeNS),
	} {
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Query
		var key [MaxNameLen]byte
		n, ok := ParseQuery(b, &q, &key)
		if !ok {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			t.Fatalf("read a query miekg/dns cannot: %v", err)
		}
		opt := req.IsEdns0()
		if got, want := q.Key(string(key[:n])), KeyOf(req, opt); got != want {
			t.Fatalf("key %+v, miekg/dns reads %+v", got, want)
		}
		if req.Opcode != dns.OpcodeQuery || req.Response || q.ID != req.Id || q.RD != req.RecursionDesired ||
			q.CD != req.CheckingDisabled || q.EDNS != (opt != nil) || opt != nil && (q.UDPSize != opt.UDPSize() || opt.Version() != 0) {
			t.Fatalf("read %+v from %v", q, req)
		}
		if q.EDNS && q.BareOPT != (len(opt.Option) == 0 && opt.ExtendedRcode() == 0) {
			t.Fatalf("BareOPT %v for %v", q.BareOPT, opt)
		}
	})
}
