package lab

import (
	"testing"

	"github.com/miekg/dns"
)

// Each case is what `dig +dnssec [+cd] @resolver name` shows.
func TestResolvers(t *testing.T) {
	h := startLab(t)
	const none = -1
	tests := []struct {
		role  string
		qname string
		qtype uint16
		cd    bool
		rcode int
		ede   int  // EDE code, or none
		ad    bool // validated
		soa   bool // the authority section holds a SOA
	}{
		{RoleValidating, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, none, true, false},
		{RoleValidating, "nothere.ok.test.", dns.TypeA, false, dns.RcodeNameError, none, true, true},
		{RoleValidating, "www.ok.test.", dns.TypeAAAA, false, dns.RcodeSuccess, none, true, true},
		{RoleValidating, "ok.test.", dns.TypeDS, false, dns.RcodeSuccess, none, true, false},
		{RoleValidating, "www.dsmismatch.test.", dns.TypeA, false, dns.RcodeServerFailure, int(dns.ExtendedErrorCodeDNSBogus), false, false},
		{RoleValidating, "www.dsmismatch.test.", dns.TypeA, true, dns.RcodeSuccess, none, false, false},
		{RoleValidating, "www.expired.test.", dns.TypeA, false, dns.RcodeServerFailure, int(dns.ExtendedErrorCodeSignatureExpired), false, false},
		{RoleValidating, "www.expired.test.", dns.TypeA, true, dns.RcodeSuccess, none, false, false},
		{RoleValidating, "www.dead.test.", dns.TypeA, false, dns.RcodeServerFailure, int(dns.ExtendedErrorCodeNoReachableAuthority), false, false},
		{RoleValidating, "www.lame.test.", dns.TypeA, false, dns.RcodeServerFailure, int(dns.ExtendedErrorCodeNoReachableAuthority), false, false},
		{RoleValidating, "www.partial.test.", dns.TypeA, false, dns.RcodeSuccess, none, true, false},
		{RoleValidating, "www.nsmismatch.test.", dns.TypeA, false, dns.RcodeSuccess, none, true, false},
		{RoleValidating, "nothere.test.", dns.TypeA, false, dns.RcodeNameError, none, true, true},
		{RoleNonvalidating, "www.dsmismatch.test.", dns.TypeA, false, dns.RcodeSuccess, none, false, false},
		{RoleNonvalidating, "www.expired.test.", dns.TypeA, false, dns.RcodeSuccess, none, false, false},
		{RoleNonvalidating, "nothere.ok.test.", dns.TypeA, false, dns.RcodeNameError, none, false, true},
		{RoleFiltering, "blocked.ok.test.", dns.TypeA, false, dns.RcodeNameError, none, false, false},
		{RoleFiltering, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, none, false, false},
		{RoleRefusing, "www.ok.test.", dns.TypeA, false, dns.RcodeRefused, none, false, false},
		{RoleStale, "www.ok.test.", dns.TypeA, false, dns.RcodeSuccess, none, false, false},
		{RoleStale, "new.ok.test.", dns.TypeA, false, dns.RcodeNameError, none, false, true},
		{RoleNonvalidating, "new.ok.test.", dns.TypeA, false, dns.RcodeSuccess, none, false, false},
	}
	for _, tc := range tests {
		cd := map[bool]string{true: "+cd"}[tc.cd]
		t.Run(tc.role+" "+tc.qname+" "+dns.TypeToString[tc.qtype]+cd, func(t *testing.T) {
			resp := ask{rd: true, cd: tc.cd}.mustQuery(t, h.Resolvers[tc.role], tc.qname, tc.qtype)
			if resp.Rcode != tc.rcode || edeOf(resp) != tc.ede || resp.AuthenticatedData != tc.ad {
				t.Fatalf("rcode %s ede %d ad %v, want %s ede %d ad %v:\n%s", dns.RcodeToString[resp.Rcode],
					edeOf(resp), resp.AuthenticatedData, dns.RcodeToString[tc.rcode], tc.ede, tc.ad, resp)
			}
			if !resp.RecursionAvailable || resp.Authoritative {
				t.Errorf("ra %v aa %v, want a recursive answer", resp.RecursionAvailable, resp.Authoritative)
			}
			if got := len(resp.Ns) > 0 && resp.Ns[0].Header().Rrtype == dns.TypeSOA; got != tc.soa {
				t.Errorf("SOA in authority: %v, want %v:\n%s", got, tc.soa, resp)
			}
		})
	}
}

// The stale resolver's denial carries ok.test.'s SOA with an older serial
// than the zone publishes and a TTL below its negative TTL.
func TestStaleDenialSOA(t *testing.T) {
	h := startLab(t)
	auth := ask{}.mustQuery(t, h.addr(ipOK), "ok.test.", dns.TypeSOA).Answer[0].(*dns.SOA)
	resp := ask{rd: true}.mustQuery(t, h.Resolvers[RoleStale], "new.ok.test.", dns.TypeA)
	soa := resp.Ns[0].(*dns.SOA)
	if soa.Hdr.Name != "ok.test." || soa.Serial >= auth.Serial || soa.Hdr.Ttl >= auth.Minttl {
		t.Errorf("stale SOA %s, zone SOA %s: want ok.test., older serial, TTL below %d", soa, auth, auth.Minttl)
	}
}

// Without DO the resolver strips DNSSEC records; without EDNS0 there is no
// room for an EDE, so SERVFAIL comes bare.
func TestResolverDNSSECVisibility(t *testing.T) {
	h := startLab(t)
	q := new(dns.Msg)
	q.SetQuestion("www.ok.test.", dns.TypeA)
	c := new(dns.Client)
	resp, _, err := c.Exchange(q, h.Resolvers[RoleValidating])
	if err != nil || len(resp.Answer) != 1 || resp.AuthenticatedData {
		t.Errorf("plain query: err %v, answer %v ad %v; want one A, no AD", err, resp.Answer, resp.AuthenticatedData)
	}
	resp = ask{rd: true, noEDNS: true}.mustQuery(t, h.Resolvers[RoleValidating], "www.expired.test.", dns.TypeA)
	if resp.Rcode != dns.RcodeServerFailure || resp.IsEdns0() != nil {
		t.Errorf("no EDNS0: %s", resp)
	}
	resp = ask{rd: true, tcp: true}.mustQuery(t, h.Resolvers[RoleValidating], "www.ok.test.", dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || !resp.AuthenticatedData {
		t.Errorf("over TCP: %s", resp)
	}
}
