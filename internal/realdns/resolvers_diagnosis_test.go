package realdns

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// nxray's diagnosis in front of the real resolvers of resolvers.go.

// TestDiagnosisThroughResolvers: nxray in front of each of these resolvers
// gives the verdict an expert would.
func TestDiagnosisThroughResolvers(t *testing.T) {
	tr := startTree(t)
	for _, tt := range []struct {
		role, name string
		causes     []diagnose.Cause // any of
	}{
		// It answers other names: its own policy, not the zone nor a
		// refusal of this client.
		{PolicyRefusing, "refused.ok.test.", []diagnose.Cause{diagnose.ResolverFiltering}},
		{PolicyRefusing, "blocked.ok.test.", []diagnose.Cause{diagnose.ResolverFiltering}},
		{BadAnchor, "www.ok.test.", []diagnose.Cause{diagnose.DNSSECBogus}},
		{SkewedClock, "www.ok.test.", []diagnose.Cause{diagnose.DNSSECExpired, diagnose.DNSSECBogus}},
		{Dnsmasq, "nothere.ok.test.", []diagnose.Cause{diagnose.NXDomainConfirmed}},
		{Dnsmasq, "www.dsmismatch.test.", []diagnose.Cause{diagnose.DNSSECBogus}},
		{Dnsmasq, "www.lame.test.", []diagnose.Cause{diagnose.LameDelegation}},
		{Dnsmasq, "blocked.ok.test.", []diagnose.Cause{diagnose.ResolverFiltering}},
		{Knot, "nothere.ok.test.", []diagnose.Cause{diagnose.NXDomainConfirmed}},
		{Knot, "www.expired.test.", []diagnose.Cause{diagnose.DNSSECExpired}},
		{Knot, "www.dead.test.", []diagnose.Cause{diagnose.AuthoritativeUnreachable}},
		{Knot, "blocked.ok.test.", []diagnose.Cause{diagnose.ResolverFiltering}},
	} {
		t.Run(tt.role+"/"+tt.name, func(t *testing.T) {
			up := needRole(t, tr, tt.role)
			v := diagnoseThrough(t, tr, up, tt.name)
			t.Logf("%s (%dms): %s | %s", v.Cause, v.DurationMS, v.Summary, v.Advice)
			if !slices.Contains(tt.causes, v.Cause) {
				t.Errorf("cause %s, want %v\nsummary: %s\nadvice: %s\n%s", v.Cause, tt.causes, v.Summary, v.Advice, evidenceText(v.Evidence))
			}
			ip := strings.TrimSuffix(up, ":53")
			text := v.Summary + " " + v.Advice
			switch tt.role {
			case BadAnchor: // the upstream's anchor is wrong, not the zone's DS
				if !strings.Contains(text, ip) || !containsAny(text, "trust anchor", "own validation") {
					t.Errorf("the verdict does not name %s and its trust anchor or own validation:\n%s", ip, text)
				}
				if strings.Contains(v.Advice, "DS record") {
					t.Errorf("the advice blames the DS record: %s", v.Advice)
				}
			case SkewedClock: // the upstream's clock is wrong, not the signatures
				if !strings.Contains(text, ip) || !containsAny(v.Summary, "clock", "own validation") {
					t.Errorf("the verdict does not name %s and its clock or own validation:\n%s", ip, text)
				}
				if strings.Contains(v.Advice, "Re-sign") {
					t.Errorf("the advice says to re-sign: %s", v.Advice)
				}
			}
		})
	}
	// Last, as it changes ok.test.: a record added after dnsmasq (and
	// the validating Unbound behind it) cached the name's NXDOMAIN.
	t.Run(Dnsmasq+"/"+string(diagnose.StaleNegativeCache), func(t *testing.T) {
		up := needRole(t, tr, Dnsmasq)
		r, err := exchange(up, a("fresh.ok.test."))
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Fatalf("priming dnsmasq's cache: %v %v", r, err)
		}
		if err := tr.AddToOK("fresh A 192.0.2.5"); err != nil {
			t.Fatal(err)
		}
		// dnsmasq's cached denial carries ok.test.'s SOA with the old
		// serial, as the classifier needs.
		r, err = exchange(up, a("fresh.ok.test."))
		if err != nil || r.Rcode != dns.RcodeNameError || soaIn(r) == nil || soaIn(r).Serial != 1 {
			t.Fatalf("dnsmasq's cached answer: %v\n%s", err, onWire(r, err))
		}
		v := diagnoseThrough(t, tr, up, "fresh.ok.test.")
		t.Logf("%s (%dms): %s | %s", v.Cause, v.DurationMS, v.Summary, v.Advice)
		if v.Cause != diagnose.StaleNegativeCache {
			t.Errorf("cause %s, want %s\nsummary: %s\n%s", v.Cause, diagnose.StaleNegativeCache, v.Summary, evidenceText(v.Evidence))
		}
	})
}

func containsAny(s string, subs ...string) bool {
	s = strings.ToLower(s)
	for _, sub := range subs {
		if strings.Contains(s, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}
