package lab

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Each case is what `dig +norec +dnssec @server name type` shows.
func TestAuthoritative(t *testing.T) {
	h := startLab(t)
	tests := []struct {
		name    string
		server  string // IP; the lab port is added
		qname   string
		qtype   uint16
		tcp     bool
		rcode   int
		aa      bool
		inspect func(t *testing.T, resp *dns.Msg)
	}{
		{"ok answer", ipOK, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, true, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Answer, dns.TypeA, dns.TypeRRSIG)
			if a := r.Answer[0].(*dns.A); !a.A.Equal(net.IPv4(192, 0, 2, 1)) {
				t.Errorf("A = %s", a.A)
			}
		}},
		{"ok answer over tcp", ipOK, "www.ok.test.", dns.TypeA, true, dns.RcodeSuccess, true, nil},
		{"ok nxdomain", ipOK, "nothere.ok.test.", dns.TypeA, false, dns.RcodeNameError, true, func(t *testing.T, r *dns.Msg) {
			soa := r.Ns[0].(*dns.SOA)
			if soa.Minttl != 300 || soa.Serial != OKSerial || soa.Hdr.Ttl != 300 {
				t.Errorf("SOA = %s, want MINIMUM 300, serial %d, TTL 300", soa, OKSerial)
			}
			if proveNXDOMAIN(nsecsIn(r.Ns), "nothere.ok.test.") != nil {
				t.Errorf("no NSEC proof in %v", r.Ns)
			}
		}},
		{"ok nodata", ipOK, "www.ok.test.", dns.TypeAAAA, false, dns.RcodeSuccess, true, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Ns, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeRRSIG)
		}},
		{"root refers test", ipRoot, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, false, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Ns, dns.TypeNS, dns.TypeDS, dns.TypeRRSIG)
			wantTypes(t, r.Extra, dns.TypeA, dns.TypeOPT)
		}},
		{"test refers ok with DS and glue", ipTLD, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, false, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Ns, dns.TypeNS, dns.TypeDS, dns.TypeRRSIG)
			if a := r.Extra[0].(*dns.A); a.A.String() != ipOK {
				t.Errorf("glue = %s, want %s", a, ipOK)
			}
		}},
		{"test refers lame, unsigned", ipTLD, "lame.test.", dns.TypeSOA, false, dns.RcodeSuccess, false, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Ns, dns.TypeNS, dns.TypeNSEC, dns.TypeRRSIG)
		}},
		{"test answers DS itself", ipTLD, "ok.test.", dns.TypeDS, false, dns.RcodeSuccess, true, func(t *testing.T, r *dns.Msg) {
			wantTypes(t, r.Answer, dns.TypeDS, dns.TypeRRSIG)
		}},
		{"lame refuses", ipLame, "lame.test.", dns.TypeSOA, false, dns.RcodeRefused, false, nil},
		{"partial ns1 answers", ipPartial, "www.partial.test.", dns.TypeA, false, dns.RcodeSuccess, true, nil},
		{"nsmismatch ns2 answers", ipNSM2, "www.nsmismatch.test.", dns.TypeA, false, dns.RcodeSuccess, true, nil},
		{"ok server refuses other zones", ipOK, "www.expired.test.", dns.TypeA, false, dns.RcodeRefused, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := ask{tcp: tc.tcp}.mustQuery(t, h.addr(tc.server), tc.qname, tc.qtype)
			if resp.Rcode != tc.rcode || resp.Authoritative != tc.aa || resp.RecursionAvailable {
				t.Fatalf("rcode %s aa %v ra %v, want %s aa %v:\n%s", dns.RcodeToString[resp.Rcode],
					resp.Authoritative, resp.RecursionAvailable, dns.RcodeToString[tc.rcode], tc.aa, resp)
			}
			if tc.inspect != nil {
				tc.inspect(t, resp)
			}
		})
	}
}

func TestDeadIPTimesOut(t *testing.T) {
	h := startLab(t)
	for _, tcp := range []bool{false, true} {
		q := new(dns.Msg)
		q.SetQuestion("www.dead.test.", dns.TypeA)
		c := &dns.Client{Net: map[bool]string{false: "udp", true: "tcp"}[tcp], Timeout: 200 * time.Millisecond}
		_, _, err := c.Exchange(q, h.addr(h.DeadIP))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("tcp=%v: err = %v, want a timeout", tcp, err)
		}
	}
}

// The parent delegates nsmismatch.test. to ns1+ns2; the zone itself says ns1+ns3.
func TestNSMismatch(t *testing.T) {
	h := startLab(t)
	parent := ask{}.mustQuery(t, h.addr(ipTLD), "nsmismatch.test.", dns.TypeNS)
	child := ask{}.mustQuery(t, h.addr(ipNSM1), "nsmismatch.test.", dns.TypeNS)
	if got := nsHosts(parent.Ns); !slices.Equal(got, []string{"ns1.nsmismatch.test.", "ns2.nsmismatch.test."}) {
		t.Errorf("parent NS = %v", got)
	}
	if got := nsHosts(child.Answer); !slices.Equal(got, []string{"ns1.nsmismatch.test.", "ns3.nsmismatch.test."}) {
		t.Errorf("child NS = %v", got)
	}
}

func TestExpiredSignatures(t *testing.T) {
	h := startLab(t)
	resp := ask{}.mustQuery(t, h.addr(ipExpired), "www.expired.test.", dns.TypeA)
	sigs := sigsFor(resp.Answer, "www.expired.test.", dns.TypeA)
	if len(sigs) != 1 {
		t.Fatalf("want one RRSIG, got %v", resp.Answer)
	}
	if exp := time.Unix(int64(sigs[0].Expiration), 0); !exp.Before(time.Now()) || sigs[0].ValidityPeriod(time.Now()) {
		t.Errorf("RRSIG expires %s, want the past", exp)
	}
	keys := ask{}.mustQuery(t, h.addr(ipExpired), "expired.test.", dns.TypeDNSKEY)
	if !verifiesWithAny(sigs[0], resp.Answer[:1], keys.Answer) {
		t.Error("expired RRSIG should still verify cryptographically")
	}
}

// The DS in test. for dsmismatch.test. matches no DNSKEY the child serves,
// while ok.test.'s DS matches its KSK.
func TestDSAgainstDNSKEY(t *testing.T) {
	h := startLab(t)
	for zone, server := range map[string]string{"dsmismatch.test.": ipDSMismatch, "ok.test.": ipOK} {
		dsResp := ask{}.mustQuery(t, h.addr(ipTLD), zone, dns.TypeDS)
		keyResp := ask{}.mustQuery(t, h.addr(server), zone, dns.TypeDNSKEY)
		var ds []*dns.DS
		for _, rr := range dsResp.Answer {
			if d, ok := rr.(*dns.DS); ok {
				ds = append(ds, d)
			}
		}
		matched := 0
		for _, rr := range keyResp.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok && matchesDS(k, ds) {
				matched++
			}
		}
		if want := map[string]int{"dsmismatch.test.": 0, "ok.test.": 1}[zone]; len(ds) != 1 || matched != want {
			t.Errorf("%s: %d DS, %d DNSKEY matching, want 1 and %d", zone, len(ds), matched, want)
		}
	}
}

func TestCanonicalOrderAndNSEC(t *testing.T) {
	order := []string{"ok.test.", "*.ok.test.", "blocked.ok.test.", "ns1.ok.test.", "www.ok.test.", "z.test."}
	for i := 1; i < len(order); i++ {
		if canonicalCompare(order[i-1], order[i]) >= 0 {
			t.Errorf("%s should sort before %s", order[i-1], order[i])
		}
	}
	last := &dns.NSEC{Hdr: dns.RR_Header{Name: "www.ok.test."}, NextDomain: "ok.test."}
	if !nsecCovers(last, "zzz.ok.test.") || nsecCovers(last, "other.test.") || nsecCovers(last, "a.ok.test.") {
		t.Error("wrapping NSEC covers the wrong names")
	}
}

func wantTypes(t *testing.T, rrs []dns.RR, types ...uint16) {
	t.Helper()
	var got []uint16
	for _, rr := range rrs {
		got = append(got, rr.Header().Rrtype)
	}
	if !slices.Equal(got, types) {
		t.Errorf("types %v, want %v in %v", got, types, rrs)
	}
}

func nsecsIn(rrs []dns.RR) []*dns.NSEC {
	var out []*dns.NSEC
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC); ok {
			out = append(out, n)
		}
	}
	return out
}

func nsHosts(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NS); ok {
			out = append(out, n.Ns)
		}
	}
	slices.Sort(out)
	return out
}

func verifiesWithAny(sig *dns.RRSIG, rrset, keys []dns.RR) bool {
	for _, rr := range keys {
		if k, ok := rr.(*dns.DNSKEY); ok && sig.Verify(k, rrset) == nil {
			return true
		}
	}
	return false
}
