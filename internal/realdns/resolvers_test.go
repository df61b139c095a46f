package realdns

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// query is one question as a stub resolver asks it: RD=1 (unless nord),
// EDNS0 1232, DO=0.
type query struct {
	name  string
	qtype uint16
	cd    bool
	nord  bool
}

func a(name string) query   { return query{name: name, qtype: dns.TypeA} }
func acd(name string) query { return query{name: name, qtype: dns.TypeA, cd: true} }

func exchange(server string, q query) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(q.name, q.qtype)
	m.CheckingDisabled, m.RecursionDesired = q.cd, !q.nord
	m.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Timeout: 12 * time.Second}).Exchange(m, server)
	return r, err
}

// needRole returns the address of role, or skips the test where the
// software behind it is not installed (fails in CI).
func needRole(t *testing.T, tr *Tree, role string) string {
	t.Helper()
	addr, ok := tr.Resolvers[role]
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s resolver in CI", role)
		}
		t.Skipf("no %s resolver (its package is not installed)", role)
	}
	return addr
}

// check is one property of an answer; it says what is wrong, or "".
type check func(*dns.Msg) string

func rcode(want int) check {
	return func(r *dns.Msg) string {
		if r.Rcode != want {
			return "rcode " + dns.RcodeToString[r.Rcode] + ", want " + dns.RcodeToString[want]
		}
		return ""
	}
}

func aa(want bool) check {
	return func(r *dns.Msg) string {
		if r.Authoritative != want {
			return fmt.Sprintf("AA %v, want %v", r.Authoritative, want)
		}
		return ""
	}
}

// soa: the authority section holds a SOA owned by owner; "" means no SOA.
func soa(owner string) check {
	return func(r *dns.Msg) string {
		got := ""
		if s := soaIn(r); s != nil {
			got = s.Hdr.Name
		}
		if got != owner {
			return fmt.Sprintf("authority SOA %q, want %q", got, owner)
		}
		return ""
	}
}

// ede: the answer's Extended DNS Errors are one of codes; none means no EDE.
func ede(codes ...uint16) check {
	return func(r *dns.Msg) string {
		got := edes(r)
		if len(codes) == 0 && len(got) == 0 {
			return ""
		}
		if len(codes) == 0 || len(got) != 1 || !slices.Contains(codes, got[0].InfoCode) {
			return fmt.Sprintf("EDE %v, want one of %v", edeCodes(got), codes)
		}
		return ""
	}
}

// addr: the answer ends in an A record of ip.
func addr(ip string) check {
	return func(r *dns.Msg) string {
		if len(r.Answer) > 0 {
			if rr, ok := r.Answer[len(r.Answer)-1].(*dns.A); ok && rr.A.String() == ip {
				return ""
			}
		}
		return "no A " + ip + " in the answer"
	}
}

func soaIn(r *dns.Msg) *dns.SOA {
	for _, rr := range r.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			return s
		}
	}
	return nil
}

func edes(r *dns.Msg) []*dns.EDNS0_EDE {
	var out []*dns.EDNS0_EDE
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e)
			}
		}
	}
	return out
}

func edeCodes(es []*dns.EDNS0_EDE) []uint16 {
	var out []uint16
	for _, e := range es {
		out = append(out, e.InfoCode)
	}
	return out
}

// TestResolverFixtures: each resolver of resolvers.go answers as its
// role says (the behaviour table there, in short).
func TestResolverFixtures(t *testing.T) {
	tr := startTree(t)
	noErr := rcode(dns.RcodeSuccess)
	nx, servfail, refused := rcode(dns.RcodeNameError), rcode(dns.RcodeServerFailure), rcode(dns.RcodeRefused)
	www := []check{noErr, addr("192.0.2.1")}
	for _, tt := range []struct {
		role  string
		q     query
		check []check
	}{
		// Refuses two names by policy and answers the rest, validating.
		{PolicyRefusing, a("refused.ok.test."), []check{refused, aa(true), ede()}},
		{PolicyRefusing, a("blocked.ok.test."), []check{refused, aa(true), ede()}},
		{PolicyRefusing, a("www.ok.test."), www},
		{PolicyRefusing, query{name: ".", qtype: dns.TypeNS}, []check{noErr}},
		{PolicyRefusing, a("www.dsmismatch.test."), []check{servfail, ede(dns.ExtendedErrorCodeDNSKEYMissing)}},
		// Fails every name, even the root's NS, while the validating
		// Unbound, with the right anchor, has them.
		{Validating, a("www.ok.test."), www},
		{BadAnchor, a("www.ok.test."), []check{servfail, ede(dns.ExtendedErrorCodeDNSBogus, dns.ExtendedErrorCodeDNSKEYMissing)}},
		{BadAnchor, acd("www.ok.test."), www},
		{BadAnchor, query{name: ".", qtype: dns.TypeNS}, []check{servfail}},
		// A year ahead: the tree's signatures have expired for it.
		{SkewedClock, a("www.ok.test."), []check{servfail, ede(dns.ExtendedErrorCodeSignatureExpired)}},
		{SkewedClock, acd("www.ok.test."), www},
		// Forwards to the validating Unbound; makes up an NXDOMAIN
		// (no SOA, no AA, no EDE) for blocked.ok.test.
		{Dnsmasq, a("www.ok.test."), www},
		{Dnsmasq, a("www.example.com."), []check{nx, soa(".")}}, // from the tree's root only
		{Dnsmasq, a("blocked.ok.test."), []check{nx, aa(false), soa(""), ede()}},
		{Dnsmasq, a("nothere.ok.test."), []check{nx, aa(false), soa("ok.test.")}},
		{Dnsmasq, a("www.dsmismatch.test."), []check{servfail}},
		{Dnsmasq, acd("www.dsmismatch.test."), []check{noErr, addr("192.0.2.10")}},
		// Resolves and validates from the tree's root; DENY answers
		// NXDOMAIN, AA, with a SOA of the blocked name itself and EDE 15.
		{Knot, a("www.ok.test."), www},
		{Knot, a("www.example.com."), []check{nx, soa(".")}},
		{Knot, a("blocked.ok.test."), []check{nx, aa(true), soa("blocked.ok.test."), ede(dns.ExtendedErrorCodeBlocked)}},
		{Knot, a("nothere.ok.test."), []check{nx, aa(false), soa("ok.test.")}},
		// The first question into these zones: without ALLOW_LOCAL Knot
		// would fail it for want of an address, with no EDE.
		{Knot, a("www.dsmismatch.test."), []check{servfail, ede(dns.ExtendedErrorCodeDNSBogus)}},
		{Knot, a("www.expired.test."), []check{servfail, ede(dns.ExtendedErrorCodeSignatureExpired)}},
		{Knot, acd("www.expired.test."), []check{noErr, addr("192.0.2.11")}},
	} {
		cd := ""
		if tt.q.cd {
			cd = "+cd"
		}
		t.Run(tt.role+"/"+tt.q.name+cd, func(t *testing.T) {
			r, err := exchange(needRole(t, tr, tt.role), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.check {
				if msg := c(r); msg != "" {
					t.Errorf("%s\n%s", msg, onWire(r, nil))
				}
			}
		})
	}
	// A cached NXDOMAIN keeps the zone's SOA, its TTL counted down.
	t.Run("cached negative answers", func(t *testing.T) {
		roles := []string{Validating, Dnsmasq, Knot}
		first := map[string]uint32{}
		for _, role := range roles {
			if _, ok := tr.Resolvers[role]; !ok {
				continue
			}
			r, err := exchange(tr.Resolvers[role], a("cached.ok.test."))
			if err != nil || soaIn(r) == nil {
				t.Fatalf("%s: %v %v", role, err, r)
			}
			first[role] = soaIn(r).Hdr.Ttl
		}
		time.Sleep(1100 * time.Millisecond)
		for role, ttl := range first {
			r, err := exchange(tr.Resolvers[role], a("cached.ok.test."))
			if err != nil {
				t.Fatal(err)
			}
			if s := soaIn(r); r.Rcode != dns.RcodeNameError || s == nil || s.Hdr.Name != "ok.test." || s.Hdr.Ttl >= ttl {
				t.Errorf("%s asked again: %s, want NXDOMAIN with ok.test.'s SOA below TTL %d", role, onWire(r, nil), ttl)
			}
		}
	})
}

// onWire says what an answer carries: rcode, flags, the answer, authority
// and additional sections (owner, type, TTL; a SOA's serial) and EDEs.
func onWire(r *dns.Msg, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if r == nil {
		return "no answer"
	}
	var b strings.Builder
	b.WriteString(dns.RcodeToString[r.Rcode])
	for _, f := range []struct {
		on   bool
		name string
	}{{r.Authoritative, "aa"}, {r.Truncated, "tc"}, {r.AuthenticatedData, "ad"}, {r.CheckingDisabled, "cd"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	var extra []dns.RR
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	for _, s := range []struct {
		label string
		rrs   []dns.RR
	}{{"an", r.Answer}, {"ns", r.Ns}, {"ar", extra}} {
		if len(s.rrs) > 0 {
			fmt.Fprintf(&b, " %s=[%s]", s.label, rrsText(s.rrs))
		}
	}
	for _, e := range edes(r) {
		fmt.Fprintf(&b, " ede=%d(%s)%q", e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode], e.ExtraText)
	}
	return b.String()
}

func rrsText(rrs []dns.RR) string {
	var parts []string
	for i, rr := range rrs {
		if i == 3 && len(rrs) > 4 {
			parts = append(parts, fmt.Sprintf("... %d in all", len(rrs)))
			break
		}
		h := rr.Header()
		p := fmt.Sprintf("%s %s ttl=%d", h.Name, dns.TypeToString[h.Rrtype], h.Ttl)
		switch v := rr.(type) {
		case *dns.SOA:
			p += fmt.Sprintf(" serial=%d min=%d", v.Serial, v.Minttl)
		case *dns.A:
			p += " " + v.A.String()
		case *dns.CNAME:
			p += " " + v.Target
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// TestResolverBehaviourTable logs what each resolver of the tree answers,
// on the wire, for each kind of failure: the table in resolvers.go comes
// from it. It changes ok.test. and takes some seconds more than the
// fixtures, so it runs only with REALDNS_TABLE=1.
func TestResolverBehaviourTable(t *testing.T) {
	if os.Getenv("REALDNS_TABLE") == "" {
		t.Skip("REALDNS_TABLE=1 logs the behaviour table")
	}
	tr := startTree(t)
	roles := []string{Validating, Filtering, Refusing, PolicyRefusing, BadAnchor, SkewedClock, Dnsmasq, Knot}
	row := func(role string, q query, note string) {
		start := time.Now()
		r, err := exchange(tr.Resolvers[role], q)
		took := time.Since(start).Round(time.Millisecond)
		cd := ""
		if q.cd {
			cd = " +cd"
		}
		if q.nord {
			cd += " +nord"
		}
		t.Logf("%-15s %-22s %-5s%s%s | %s (%v)", role, q.name, dns.TypeToString[q.qtype], cd, note, onWire(r, err), took)
	}
	each := func(note string, qs ...query) {
		for _, role := range roles {
			for _, q := range qs {
				row(role, q, note)
			}
		}
	}
	each("", a("nothere.ok.test."))
	time.Sleep(3 * time.Second)
	each(" (again, 3s later)", a("nothere.ok.test."))
	each("", a("blocked.ok.test."), a("refused.ok.test."), a("www.ok.test."), query{name: ".", qtype: dns.TypeNS},
		query{name: "www.ok.test.", qtype: dns.TypeA, nord: true})
	each("", a("www.dsmismatch.test."), acd("www.dsmismatch.test."), a("www.expired.test."), acd("www.expired.test."))
	each("", a("www.lame.test."), a("www.dead.test."), a("www.notcp.test."),
		a("alias.cname.test."), a("tobogus.cname.test."), a("todead.cname.test."))
	each(" (before AddToOK)", a("later.ok.test."))
	if err := tr.AddToOK("later A 192.0.2.4"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	each(" (after AddToOK, 3s later)", a("later.ok.test."))
	r, err := exchange(ipOK+":53", query{name: "ok.test.", qtype: dns.TypeSOA})
	t.Logf("%-15s %-22s %-5s | %s", "BIND "+ipOK, "ok.test.", "SOA", onWire(r, err))
}
