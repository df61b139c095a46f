package realdns

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// digAt asks server one question: RD as rd says, EDNS0 with DO, over UDP
// or TCP. It returns nil and the error when nothing came back.
func digAt(server, name string, qtype uint16, rd, tcp bool, timeout time.Duration) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.RecursionDesired = rd
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: timeout}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, server)
	return r, err
}

func hasRR(rrs []dns.RR, owner string, rtype uint16, data string) bool {
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == rtype && strings.EqualFold(h.Name, owner) &&
			(data == "" || strings.EqualFold(strings.TrimPrefix(rr.String(), h.String()), data)) {
			return true
		}
	}
	return false
}

func soaSerial(m *dns.Msg) (string, uint32) {
	for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Ns...) {
		if s, ok := rr.(*dns.SOA); ok {
			return s.Hdr.Name, s.Serial
		}
	}
	return "", 0
}

func nsNames(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if ns, ok := rr.(*dns.NS); ok {
			out = append(out, ns.Ns)
		}
	}
	return out
}

// authCheck is one question to one authoritative server (RD=0) and what
// its answer must show.
type authCheck struct {
	server, name string
	qtype        uint16
	rcode        int
	aa           bool
	check        func(*dns.Msg) error // nil: rcode and AA are all
}

func (c authCheck) run(t *testing.T) {
	t.Helper()
	r, err := digAt(net.JoinHostPort(c.server, "53"), c.name, c.qtype, false, false, 3*time.Second)
	if err == nil && r.Truncated {
		r, err = digAt(net.JoinHostPort(c.server, "53"), c.name, c.qtype, false, true, 3*time.Second)
	}
	what := fmt.Sprintf("%s %s at %s", c.name, dns.TypeToString[c.qtype], c.server)
	switch {
	case err != nil:
		t.Errorf("%s: %v", what, err)
	case r.Rcode != c.rcode || r.Authoritative != c.aa:
		t.Errorf("%s: %s AA=%v, want %s AA=%v", what, dns.RcodeToString[r.Rcode], r.Authoritative,
			dns.RcodeToString[c.rcode], c.aa)
	case c.check != nil:
		if err := c.check(r); err != nil {
			t.Errorf("%s: %v\n%s", what, err, r)
		}
	}
}

func wantf(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// checkScenarios proves the harder scenarios' zones are built as their
// comments in scenarios.go say, by asking BIND and Unbound directly:
// nothing here depends on nxray's diagnosis.
func checkScenarios(t *testing.T, tr *Tree) {
	blackHoles(t, manyDeadHoles)
	const ok = dns.RcodeSuccess
	for _, c := range []authCheck{
		// 1-3: the CNAMEs of cname.test. are served as written.
		{ipCNAME, "alias.cname.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(hasRR(m.Answer, "alias.cname.test.", dns.TypeCNAME, "nothere.ok.test."), "no CNAME to nothere.ok.test.")
		}},
		{ipCNAME, "todead.cname.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(hasRR(m.Answer, "todead.cname.test.", dns.TypeCNAME, "www.dead.test."), "no CNAME to www.dead.test.")
		}},
		// 4: BIND synthesises the CNAME from the DNAME.
		{ipDNAME, "nothere.old.dname.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(hasRR(m.Answer, "old.dname.test.", dns.TypeDNAME, "ok.test.") &&
				hasRR(m.Answer, "nothere.old.dname.test.", dns.TypeCNAME, "nothere.ok.test."), "no DNAME and synthesised CNAME")
		}},
		// 5: test. delegates noglue.test. out of bailiwick, with no glue;
		// hoster.test. has the server's address, and the server the zone.
		{ipTLD, "www.noglue.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Ns)) == "[ns.hoster.test.]" && !hasRR(m.Extra, "ns.hoster.test.", dns.TypeA, ""),
				"want a referral to ns.hoster.test. without glue")
		}},
		{ipHoster, "ns.hoster.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(hasRR(m.Answer, "ns.hoster.test.", dns.TypeA, ipNoGlue), "no A %s", ipNoGlue)
		}},
		{ipNoGlue, "www.noglue.test.", dns.TypeA, ok, true, nil},
		{ipNoGlue, "nothere.noglue.test.", dns.TypeA, dns.RcodeNameError, true, nil},
		// 6: nsgone.test.'s NS names: one in a zone that does not exist,
		// one that exists with no address.
		{ipTLD, "www.nsgone.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			return wantf(len(nsNames(m.Ns)) == 2 && len(m.Extra) <= 1, "want two NS and no glue") // Extra: the OPT
		}},
		{ipTLD, "ns1.nowhere.test.", dns.TypeA, dns.RcodeNameError, true, nil},
		{ipHoster, "ns2.hoster.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(len(m.Answer) == 0, "want no A")
		}},
		{ipHoster, "ns2.hoster.test.", dns.TypeAAAA, ok, true, func(m *dns.Msg) error {
			return wantf(len(m.Answer) == 0, "want no AAAA")
		}},
		// 7: twelve NS, the live one listed last.
		{ipTLD, "www.manydead.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			ns := nsNames(m.Ns)
			return wantf(len(ns) == 12 && ns[11] == "ns12.manydead.test." && hasRR(m.Extra, "ns12.manydead.test.", dns.TypeA, ipManyLive),
				"want 12 NS, ns12.manydead.test. (%s) last", ipManyLive)
		}},
		{ipManyLive, "www.manydead.test.", dns.TypeA, ok, true, nil},
		// 8: the two servers of split.test. serve different copies.
		{ipSplit1, "split.test.", dns.TypeSOA, ok, true, serialIs(5)},
		{ipSplit1, "new.split.test.", dns.TypeA, ok, true, nil},
		{ipSplit2, "split.test.", dns.TypeSOA, ok, true, serialIs(3)},
		{ipSplit2, "new.split.test.", dns.TypeA, dns.RcodeNameError, true, nil},
		{ipSplit2, "www.split.test.", dns.TypeA, ok, true, nil},
		// 9: test. still lists the old provider, whose old copy (AA) has no
		// www and names the new provider's server, which has it.
		{ipTLD, "www.moved.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Ns)) == "[ns1.oldhost.test.]", "want a referral to ns1.oldhost.test. only")
		}},
		{ipOldHost, "www.moved.test.", dns.TypeA, dns.RcodeNameError, true, serialIs(1)},
		{ipOldHost, "moved.test.", dns.TypeNS, ok, true, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Answer)) == "[ns1.newhost.test.]", "want NS ns1.newhost.test.")
		}},
		{ipNewHost, "ns1.newhost.test.", dns.TypeA, ok, true, nil},
		{ipNewHost, "www.moved.test.", dns.TypeA, ok, true, func(m *dns.Msg) error {
			return wantf(hasRR(m.Answer, "www.moved.test.", dns.TypeA, "192.0.2.50"), "no A 192.0.2.50")
		}},
		{ipNewHost, "moved.test.", dns.TypeSOA, ok, true, serialIs(2)},
		// 10: algo.test.'s keys, DS and signatures are ED448 (16), which
		// miekg/dns does not verify.
		{ipTLD, "algo.test.", dns.TypeDS, ok, true, func(m *dns.Msg) error {
			var ds *dns.DS
			if len(m.Answer) > 0 {
				ds, _ = m.Answer[0].(*dns.DS)
			}
			return wantf(ds != nil && ds.Algorithm == dns.ED448, "want a DS of algorithm 16")
		}},
		{ipAlgo, "algo.test.", dns.TypeDNSKEY, ok, true, ed448Unverifiable},
		// 11: 400 NS at 400 addresses (over TCP: it does not fit in UDP).
		{ipTLD, "www.big.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			addrs := map[string]bool{}
			for _, rr := range m.Extra {
				if a, ok := rr.(*dns.A); ok {
					addrs[a.A.String()] = true
				}
			}
			return wantf(len(nsNames(m.Ns)) == bigNS && len(addrs) == bigNS, "want %d NS and %d glue addresses", bigNS, bigNS)
		}},
		// 14: one server answers for parentz.test. and, with no referral,
		// for its child, whose NS name differs from the parent's.
		{ipParentz, "www.kid.parentz.test.", dns.TypeA, ok, true, nil},
		{ipParentz, "nothere.kid.parentz.test.", dns.TypeA, dns.RcodeNameError, true, func(m *dns.Msg) error {
			zone, _ := soaSerial(m)
			return wantf(zone == "kid.parentz.test.", "SOA of %q, want kid.parentz.test.", zone)
		}},
		{ipParentz, "kid.parentz.test.", dns.TypeNS, ok, true, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Answer)) == "[ns1.kid.parentz.test.]", "want NS ns1.kid.parentz.test.")
		}},
		{ipParentz, "parentz.test.", dns.TypeNS, ok, true, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Answer)) == "[ns1.parentz.test. ns2.parentz.test.]", "want NS ns1 and ns2.parentz.test.")
		}},
		// ns2 serves parentz.test. only: it refers the child to ns1.
		{ipParentz2, "www.kid.parentz.test.", dns.TypeA, ok, false, func(m *dns.Msg) error {
			return wantf(fmt.Sprint(nsNames(m.Ns)) == "[ns1.kid.parentz.test.]", "want a referral to ns1.kid.parentz.test.")
		}},
	} {
		c.run(t)
	}
	checkSilent(t)
	if _, err := digAt(net.JoinHostPort(bigAddr(1), "53"), "www.big.test.", dns.TypeA, false, false, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s: %v, want connection refused", bigAddr(1), err)
	}
	checkResolved(t, tr)
}

func serialIs(serial uint32) func(*dns.Msg) error {
	return func(m *dns.Msg) error {
		_, s := soaSerial(m)
		return wantf(s == serial, "SOA serial %d, want %d", s, serial)
	}
}

// ed448Unverifiable: the DNSKEY set is ED448 and signed so, and
// miekg/dns's Verify (what nxray uses) cannot check the signature.
func ed448Unverifiable(m *dns.Msg) error {
	var keys []dns.RR
	var sig *dns.RRSIG
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.DNSKEY:
			if r.Algorithm != dns.ED448 {
				return fmt.Errorf("DNSKEY algorithm %d, want 16", r.Algorithm)
			}
			keys = append(keys, r)
		case *dns.RRSIG:
			sig = r
		}
	}
	if sig == nil || sig.Algorithm != dns.ED448 || len(keys) != 2 {
		return errors.New("want two ED448 keys and an ED448 RRSIG")
	}
	for _, k := range keys {
		if k.(*dns.DNSKEY).KeyTag() == sig.KeyTag {
			return wantf(errors.Is(sig.Verify(k.(*dns.DNSKEY), keys), dns.ErrAlg), "miekg/dns verified ED448")
		}
	}
	return errors.New("no key signs the DNSKEY set")
}

// checkSilent: every black hole of manydead.test. takes the question,
// over UDP and over TCP, and never answers.
func checkSilent(t *testing.T) {
	var wg sync.WaitGroup
	for _, ip := range manyDeadHoles {
		for _, tcp := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := digAt(net.JoinHostPort(ip, "53"), "www.manydead.test.", dns.TypeA, false, tcp, 500*time.Millisecond)
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("black hole %s (tcp %v): %v, want a timeout", ip, tcp, err)
				}
			}()
		}
	}
	wg.Wait()
}

// resolved is what a resolver must answer for a name: the rcode, and
// whether the answer validated (AD).
type resolved struct {
	name  string
	cd    bool
	rcode int
	ad    bool
}

// checkResolved: what the validating Unbound makes of the scenarios, all
// asked at once.
func checkResolved(t *testing.T, tr *Tree) {
	v := tr.Resolvers[Validating]
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, c := range []resolved{
		{"alias.cname.test.", false, dns.RcodeNameError, true},
		{"todead.cname.test.", false, dns.RcodeServerFailure, false},
		{"tobogus.cname.test.", false, dns.RcodeServerFailure, false},
		{"tobogus.cname.test.", true, dns.RcodeSuccess, false},
		{"nothere.old.dname.test.", false, dns.RcodeNameError, true},
		{"www.old.dname.test.", false, dns.RcodeSuccess, true},
		{"nothere.noglue.test.", false, dns.RcodeNameError, false},
		{"www.noglue.test.", false, dns.RcodeSuccess, false},
		{"www.nsgone.test.", false, dns.RcodeServerFailure, false},
		{"www.moved.test.", false, dns.RcodeNameError, false},
		// Unbound 1.17 (OpenSSL 3) validates ED448: the answers are
		// secure (AD), not merely insecure.
		{"www.algo.test.", false, dns.RcodeSuccess, true},
		{"nothere.algo.test.", false, dns.RcodeNameError, true},
		{"www.kid.parentz.test.", false, dns.RcodeSuccess, true},
		{"nothere.kid.parentz.test.", false, dns.RcodeNameError, true},
		{"other.lame.test.", false, dns.RcodeServerFailure, false},
		// Unbound finds the live server among the black holes (it may
		// take some seconds).
		{"www.manydead.test.", false, dns.RcodeSuccess, false},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.check(t, v)
		}()
	}
}

func (c resolved) check(t *testing.T, resolver string) {
	m := new(dns.Msg).SetQuestion(c.name, dns.TypeA)
	m.CheckingDisabled = c.cd
	m.SetEdns0(1232, true)
	r, _, err := (&dns.Client{Timeout: 15 * time.Second}).Exchange(m, resolver)
	switch {
	case err != nil:
		t.Errorf("%s (cd=%v) at %s: %v", c.name, c.cd, resolver, err)
	case r.Rcode != c.rcode || r.AuthenticatedData != c.ad:
		t.Errorf("%s (cd=%v) at %s: %s AD=%v, want %s AD=%v", c.name, c.cd, resolver, dns.RcodeToString[r.Rcode],
			r.AuthenticatedData, dns.RcodeToString[c.rcode], c.ad)
	}
}
