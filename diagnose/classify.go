package diagnose

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Result is the classifier's verdict on a set of findings.
type Result struct {
	Cause   Cause
	Summary string // one sentence naming the servers involved
	Advice  string // what to fix, and where
	// EDE is the INFO-CODE to attach to later answers, or -1 for none.
	EDE int
}

// Classify names the one cause that best explains f. It is a pure function:
// the same findings always give the same result. The order of the checks is
// an expert's: first whether nxray reached its upstreams at all, then a
// policy refusal, then DNSSEC, then the name's servers, then the answer.
func Classify(f Findings) Result {
	for _, check := range []func(*Findings) (Result, bool){
		upstreamUnreachable, upstreamRefused, dnssec, negativeAnswer, authoritative, truncation, nsSets,
	} {
		if r, ok := check(&f); ok {
			r.EDE = edeFor(r.Cause, f.Chain)
			r.Summary = tidy(r.Summary)
			return r
		}
	}
	r := Result{Cause: Healthy, EDE: noEDE,
		Summary: fmt.Sprintf("%s %s resolves, and its delegation and servers look right.", f.Name, qtype(f.Qtype)),
		Advice:  "Nothing to fix."}
	if !f.Explain {
		r = Result{Cause: Unknown, EDE: noEDE,
			Summary: fmt.Sprintf("%s %s got %s from %s, and nothing nxray checked explains it.",
				f.Name, qtype(f.Qtype), rcode(f.Rcode), f.Upstream),
			Advice: "Read the evidence; ask the upstream's operator with the query and time."}
	}
	r.Summary = tidy(r.Summary)
	return r
}

func upstreamUnreachable(f *Findings) (Result, bool) {
	if f.Rcode != NoAnswer || f.UpstreamHealthy {
		return Result{}, false
	}
	return Result{Cause: UpstreamUnreachable,
		Summary: fmt.Sprintf("No upstream answered (%s), nor a health question any resolver answers: "+
			"the failure is between nxray and its upstreams, not in %s.", f.Upstream, f.Name),
		Advice: "Check that the upstreams run and that nxray can reach them (routes, firewall); " +
			"fix nxray's upstreams setting if they moved.",
	}, true
}

func upstreamRefused(f *Findings) (Result, bool) {
	if f.Rcode != dns.RcodeRefused {
		return Result{}, false
	}
	var answering []string
	for _, a := range f.Alternates {
		if a.resolved() {
			answering = append(answering, a.Server)
		}
	}
	if len(answering) == 0 {
		return Result{}, false
	}
	return Result{Cause: UpstreamRefused,
		Summary: fmt.Sprintf("%s refuses %s %s while %s answer it: the upstream will not serve this client or query.",
			f.Upstream, f.Name, qtype(f.Qtype), list(answering)),
		Advice: "Ask the upstream's operator to allow nxray's address (its ACL or policy), " +
			"or forward to a resolver that serves you.",
	}, true
}

func dnssec(f *Findings) (Result, bool) {
	validating := f.dnssecSignature()
	upstreamSays := hasEDE(f.UpstreamEDE, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm, dns.ExtendedErrorCodeNoZoneKeyBitSet)
	if !f.Chain.broken() && len(validating) == 0 && !upstreamSays {
		return Result{}, false
	}
	if f.Rcode != dns.RcodeServerFailure && f.Rcode != NoAnswer && !f.Explain {
		return Result{}, false
	}
	detail := ""
	if f.Chain != nil && f.Chain.Detail != "" {
		detail = " (" + f.Chain.Detail + ")"
	}
	who := "validating resolvers"
	if len(validating) > 0 {
		who = list(validating) + ", which validate,"
	}
	if f.Chain != nil && f.Chain.AnchorMismatch {
		return Result{Cause: DNSSECBogus,
			Summary: fmt.Sprintf("Validation of %s fails at the top: %s.", f.Name, f.Chain.Detail),
			Advice: "Update the trust anchors (nxray's trust_anchors, and the validating resolver's) to the root's " +
				"current keys, as IANA publishes them in root-anchors.xml.",
		}, true
	}
	expired := (f.Chain != nil && (f.Chain.Expired || f.Chain.NotYetValid)) ||
		hasEDE(f.UpstreamEDE, dns.ExtendedErrorCodeSignatureExpired, dns.ExtendedErrorCodeSignatureNotYetValid)
	if expired {
		return Result{Cause: DNSSECExpired,
			Summary: fmt.Sprintf("The signatures of %s are outside their validity window%s, so %s fail %s; "+
				"with checking disabled it resolves.", zoneOr(f), detail, who, f.Name),
			Advice: fmt.Sprintf("Re-sign %s and check the signer runs on schedule (and that its clock is right).", zoneOr(f)),
		}, true
	}
	return Result{Cause: DNSSECBogus,
		Summary: fmt.Sprintf("The DNSSEC chain of %s is broken%s, so %s fail %s; with checking disabled it resolves.",
			zoneOr(f), detail, who, f.Name),
		Advice: fmt.Sprintf("Make the DS record at the parent of %s (set at the registrar) match a DNSKEY the zone publishes, "+
			"or remove the DS if the zone is no longer signed.", zoneOr(f)),
	}, true
}

// negativeAnswer explains an NXDOMAIN by what the zone's own servers say.
func negativeAnswer(f *Findings) (Result, bool) {
	if f.Rcode != dns.RcodeNameError {
		return Result{}, false
	}
	exists, known := f.nameExists()
	if !known {
		return Result{}, false // the servers' own trouble explains more
	}
	if !exists {
		return Result{Cause: NXDomainConfirmed,
			Summary: fmt.Sprintf("%s does not exist: the servers of %s (%s) say NXDOMAIN, and the resolvers agree.",
				f.Name, f.Zone, servers(f.Auth)),
			Advice: fmt.Sprintf("Add the record to the zone %s, or fix the name asked for (a typo, a wrong subdomain).", f.Zone),
		}, true
	}
	soa := f.UpstreamSOA
	if soa != nil && f.ZoneSOA != nil && strings.EqualFold(soa.Zone, f.ZoneSOA.Zone) &&
		(soa.Serial < f.ZoneSOA.Serial || soa.TTL < f.ZoneSOA.NegativeTTL()) {
		return Result{Cause: StaleNegativeCache,
			Summary: fmt.Sprintf("%s now exists at the servers of %s (serial %d), but %s still has the NXDOMAIN it cached "+
				"(serial %d); it expires within %ds.", f.Name, f.Zone, f.ZoneSOA.Serial, f.Upstream, soa.Serial, soa.TTL),
			Advice: fmt.Sprintf("Wait %ds, or flush the name from %s's cache; lower the SOA minimum of %s to shorten this next time.",
				soa.TTL, f.Upstream, f.Zone),
		}, true
	}
	why := "with no SOA"
	if soa != nil {
		why = "with a SOA for " + soa.Zone + ", not the zone's own"
	}
	return Result{Cause: ResolverFiltering,
		Summary: fmt.Sprintf("%s exists at the servers of %s, but %s says NXDOMAIN %s: the resolver made that answer up.",
			f.Name, f.Zone, f.Upstream, why),
		Advice: fmt.Sprintf("Look at %s's blocklist, policy (RPZ) or split-horizon views; the zone itself is fine.", f.Upstream),
	}, true
}

// authoritative looks at the zone's servers: all silent, some lame, some silent.
func authoritative(f *Findings) (Result, bool) {
	if len(f.Auth) == 0 {
		return Result{}, false
	}
	good, lame, dead := f.split()
	switch {
	case len(good) == 0 && len(lame) == 0:
		return Result{Cause: AuthoritativeUnreachable,
			Summary: fmt.Sprintf("None of the servers of %s answers (%s), so no resolver can get an answer for %s.",
				f.Zone, describe(dead), f.Name),
			Advice: fmt.Sprintf("Bring the name servers of %s back, or fix the NS records and glue at the parent (the registrar) "+
				"if the servers moved.", f.Zone),
		}, true
	case len(lame) > 0:
		return Result{Cause: LameDelegation,
			Summary: fmt.Sprintf("The parent of %s delegates it to %s, which answer but do not serve the zone (%s).",
				f.Zone, servers(lame), describe(lame)),
			Advice: fmt.Sprintf("Either configure %s on those servers, or remove them from the NS records at the parent "+
				"(the registrar) and in the zone.", f.Zone),
		}, true
	case len(dead) > 0:
		return Result{Cause: PartialAuthoritativeOutage,
			Summary: fmt.Sprintf("Some servers of %s do not answer (%s) while %s do: resolvers that pick the dead ones fail.",
				f.Zone, describe(dead), servers(good)),
			Advice: fmt.Sprintf("Bring back %s, or drop them from the NS set of %s at the parent and in the zone.",
				servers(dead), f.Zone),
		}, true
	}
	return Result{}, false
}

func truncation(f *Findings) (Result, bool) {
	var bad []Answer
	for _, a := range append(append([]Answer(nil), f.Auth...), f.Alternates...) {
		if a.Truncated && a.TCPFailed {
			bad = append(bad, a)
		}
	}
	if len(bad) == 0 {
		return Result{}, false
	}
	return Result{Cause: TruncatedNoTCP,
		Summary: fmt.Sprintf("The answer for %s %s does not fit in UDP, and TCP to %s fails.", f.Name, qtype(f.Qtype), servers(bad)),
		Advice:  "Allow DNS over TCP port 53 to those servers (firewalls often block it), or make the answer smaller.",
	}, true
}

func nsSets(f *Findings) (Result, bool) {
	onlyParent, onlyChild := f.nsMismatch()
	if len(onlyParent)+len(onlyChild) == 0 {
		return Result{}, false
	}
	return Result{Cause: LameDelegation,
		Summary: fmt.Sprintf("The NS sets of %s differ: only the parent lists %s; only the zone lists %s.",
			f.Zone, orNone(onlyParent), orNone(onlyChild)),
		Advice: fmt.Sprintf("Make the NS records at the parent (the registrar) and in the zone %s the same.", f.Zone),
	}, true
}

func servers(as []Answer) string {
	var out []string
	for _, a := range as {
		if a.Host != "" {
			out = append(out, a.Host+" ("+a.Server+")")
		} else {
			out = append(out, a.Server)
		}
	}
	return list(out)
}

// describe says what each server did: "ns1 (192.0.2.1:53) refused".
func describe(as []Answer) string {
	var out []string
	for _, a := range as {
		what := rcode(a.Rcode)
		switch {
		case !a.responded() && a.Err != "":
			what = a.Err
		case a.Rcode == dns.RcodeRefused:
			what = "REFUSED"
		case a.resolved() && !a.AA:
			what = "answered without AA"
		}
		out = append(out, servers([]Answer{a})+" "+what)
	}
	return strings.Join(out, "; ")
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func orNone(s []string) string { return list(s) }

func zoneOr(f *Findings) string {
	if f.Zone != "" {
		return f.Zone
	}
	return f.Name
}

func qtype(t uint16) string { return dns.TypeToString[t] }

func rcode(rc int) string {
	switch rc { // the failures the engine sees, without a map look-up
	case NoAnswer:
		return "no answer"
	case dns.RcodeNameError:
		return "NXDOMAIN"
	case dns.RcodeServerFailure:
		return "SERVFAIL"
	case dns.RcodeRefused:
		return "REFUSED"
	}
	return dns.RcodeToString[rc]
}

// tidy drops the double stop of a sentence that ends in a fully qualified
// name ("... for www.example.com.."); no name holds an empty label.
func tidy(s string) string { return strings.ReplaceAll(s, "..", ".") }

// edeFor picks the INFO-CODE for a cause; DNSSEC causes say which part of
// the chain broke (RFC 8914 section 4).
func edeFor(c Cause, ch *Chain) int {
	switch {
	case c == DNSSECBogus && ch != nil && (ch.DSMismatch || ch.DNSKEYMissing || ch.AnchorMismatch):
		return int(dns.ExtendedErrorCodeDNSKEYMissing) // a DS exists, no matching DNSKEY
	case c == DNSSECBogus && ch != nil && ch.RRSIGMissing:
		return int(dns.ExtendedErrorCodeRRSIGsMissing)
	case c == DNSSECExpired && ch != nil && ch.NotYetValid && !ch.Expired:
		return int(dns.ExtendedErrorCodeSignatureNotYetValid)
	}
	return edeCode[c]
}
