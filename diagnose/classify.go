package diagnose

import (
	"fmt"
	"slices"
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
// refusal, then DNSSEC, then what the zone's servers say of the name, then
// the servers themselves. A cause is named only on evidence for it; what
// nothing explains is unknown, and a name that still fails is never
// healthy.
func Classify(f Findings) Result {
	for _, check := range []func(*Findings) (Result, bool){
		upstreamUnreachable, refusal, dnssec, negativeAnswer, authoritative, truncation, nsSets,
	} {
		if r, ok := check(&f); ok {
			r.EDE = edeFor(r.Cause, f.Chain)
			r.Summary = tidy(r.Summary) + privateNote(&f)
			return r
		}
	}
	r := unexplained(&f)
	r.Summary = tidy(r.Summary) + privateNote(&f)
	return r
}

// unexplained is the verdict when no cause fits: healthy only for a name
// nxray explain found resolving at the upstream and at every alternate.
func unexplained(f *Findings) Result {
	failing := f.Rcode != dns.RcodeSuccess
	var altFail []string
	for _, a := range f.Alternates {
		if !a.CD && (a.Rcode == dns.RcodeServerFailure || a.Rcode == dns.RcodeNameError) {
			altFail = append(altFail, a.Server)
		}
	}
	if f.Explain && !failing && len(altFail) == 0 {
		return Result{Cause: Healthy, EDE: noEDE,
			Summary: fmt.Sprintf("%s %s resolves, and its delegation and servers look right.", f.Name, qtype(f.Qtype)) + partial(f),
			Advice:  "Nothing to fix."}
	}
	summary := fmt.Sprintf("%s %s got %s from %s, and nothing nxray checked explains it.",
		f.Name, qtype(f.Qtype), rcode(f.Rcode), f.Upstream)
	if !failing {
		summary = fmt.Sprintf("%s %s resolves at %s, but %s fail it, and nothing nxray checked explains why.",
			f.Name, qtype(f.Qtype), f.Upstream, list(dedupe(altFail)))
	}
	return Result{Cause: Unknown, EDE: noEDE, Summary: summary + partial(f),
		Advice: "Read the evidence; ask the upstream's operator with the query and time."}
}

// partial says how many of the zone's servers were not asked, if any, and
// which ones nxray would not probe, and why.
func partial(f *Findings) string {
	n := 0
	var denied []Answer
	for _, a := range f.Auth {
		switch {
		case a.Denied:
			denied = append(denied, a)
		case a.NotAsked:
			n++
		}
	}
	s := ""
	if n > 0 {
		s = fmt.Sprintf(" Partial evidence: %d of %d servers of %s not asked (probe budget or deadline).", n, len(f.Auth), f.Zone)
	}
	if len(denied) > 0 {
		s += fmt.Sprintf(" Partial evidence: %s not probed: %s.", servers(denied), reasons(denied))
	}
	return s
}

func upstreamUnreachable(f *Findings) (Result, bool) {
	if f.Rcode != NoAnswer || f.UpstreamHealthy {
		return Result{}, false
	}
	r := Result{Cause: UpstreamUnreachable,
		Summary: fmt.Sprintf("No upstream answered (%s), nor a health question any resolver answers: "+
			"the failure is between nxray and its upstreams, not in %s.", f.Upstream, f.Name),
		Advice: "Check that the upstreams run and that nxray can reach them (routes, firewall); " +
			"fix nxray's upstreams setting if they moved.",
	}
	if len(f.UpstreamReasons) > 0 {
		r.Summary += " Over TLS: " + strings.Join(f.UpstreamReasons, "; ") + "."
		r.Advice = "Fix what the TLS reason names: trust the resolver's CA (tls_ca_file), set the name its " +
			"certificate carries (#NAME), or check that it serves DNS over TLS or HTTPS at that address; " +
			"then check routes and firewall."
	}
	return r, true
}

// refusal tells a policy on the name from a policy on the client: the
// upstream is asked a question every resolver answers.
func refusal(f *Findings) (Result, bool) {
	if f.Rcode != dns.RcodeRefused {
		return Result{}, false
	}
	if f.UpstreamControl == ControlAnswered {
		return Result{Cause: ResolverFiltering,
			Summary: fmt.Sprintf("%s refuses %s %s but answers other questions (the root's NS set): a policy for this name or its zone.",
				f.Upstream, f.Name, qtype(f.Qtype)),
			Advice: fmt.Sprintf("Look at %s's policy for %s (a blocklist, RPZ, a refuse rule for the zone, an access rule by name); "+
				"the zone itself is not at fault.", f.Upstream, f.Name),
		}, true
	}
	var answering []string
	for _, a := range f.Alternates {
		if a.resolved() {
			answering = append(answering, a.Server)
		}
	}
	prohibited := slices.Contains(f.UpstreamEDE, dns.ExtendedErrorCodeProhibited)
	if f.UpstreamControl != ControlRefused && !prohibited {
		// Without the control question's answer, others answering the
		// name fits a policy on the name as well as one on the client.
		return Result{}, false
	}
	why := "it refuses a question every resolver answers (the root's NS set) too"
	if f.UpstreamControl != ControlRefused {
		why = "other resolvers answer it"
		if len(answering) > 0 {
			why = list(dedupe(answering)) + " answer it"
		}
	}
	return Result{Cause: UpstreamRefused,
		Summary: fmt.Sprintf("%s refuses %s %s, and %s: the upstream will not serve this client.",
			f.Upstream, f.Name, qtype(f.Qtype), why),
		Advice: "Ask the upstream's operator to allow nxray's address (its ACL or policy), " +
			"or forward to a resolver that serves you.",
	}, true
}

// dnssecFailure says the upstream's EDE reports a DNSSEC validation
// failure (RFC 8914 codes 5 to 12; 1 and 2 mean an algorithm or digest it
// does not support, which makes a zone insecure, not bogus).
func dnssecFailure(codes []uint16) bool {
	return hasEDE(codes, dns.ExtendedErrorCodeDNSSECIndeterminate, dns.ExtendedErrorCodeNSECMissing)
}

func dnssec(f *Findings) (Result, bool) {
	if f.Rcode != dns.RcodeServerFailure && f.Rcode != NoAnswer && !f.Explain {
		return Result{}, false
	}
	validating := f.dnssecSignature()
	upstreamSays := dnssecFailure(f.UpstreamEDE)
	broken := f.Chain.broken()
	if r, ok := upstreamValidation(f, validating, upstreamSays, broken); ok {
		return r, true
	}
	if !broken && len(validating) == 0 && !upstreamSays {
		return Result{}, false
	}
	if !broken && f.Chain != nil && !f.Chain.Signed {
		// The zone has no DS: nothing in it can be bogus, whatever one
		// resolver's answers looked like at one moment.
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
	zone := zoneOr(f)
	if f.Chain != nil && f.Chain.AnchorMismatch {
		return Result{Cause: DNSSECBogus,
			Summary: fmt.Sprintf("Validation of %s fails at the top: %s.", f.target(), f.Chain.Detail),
			Advice: "Update the trust anchors (nxray's trust_anchors, and the validating resolver's) to the root's " +
				"current keys, as IANA publishes them in root-anchors.xml.",
		}, true
	}
	expired := (f.Chain != nil && (f.Chain.Expired || f.Chain.NotYetValid)) ||
		(!broken && hasEDE(f.UpstreamEDE, dns.ExtendedErrorCodeSignatureExpired, dns.ExtendedErrorCodeSignatureNotYetValid))
	if expired {
		return Result{Cause: DNSSECExpired,
			Summary: fmt.Sprintf("The signatures of %s are outside their validity window%s, so %s fail %s%s; "+
				"with checking disabled it resolves.", zone, detail, who, f.target(), via(f)),
			Advice: fmt.Sprintf("Re-sign %s and check the signer runs on schedule (and that its clock is right).", zone),
		}, true
	}
	return Result{Cause: DNSSECBogus,
		Summary: fmt.Sprintf("The DNSSEC chain of %s is broken%s, so %s fail %s%s; with checking disabled it resolves.",
			zone, detail, who, f.target(), via(f)),
		Advice: fmt.Sprintf("Make the DS record at the parent of %s (set at the registrar) match a DNSKEY the zone publishes, "+
			"or remove the DS if the zone is no longer signed.", zone),
	}, true
}

// upstreamValidation is the upstream failing a name that other validating
// resolvers accept and whose chain nxray found sound: its own trust anchor
// or clock is wrong, not the zone.
func upstreamValidation(f *Findings, validating []string, upstreamSays, broken bool) (Result, bool) {
	if f.Rcode != dns.RcodeServerFailure || !upstreamSays || broken || len(validating) > 0 || f.Chain == nil {
		return Result{}, false
	}
	good, _, _ := f.split()
	if inconsistent(&Findings{Rcode: dns.RcodeSuccess}, good) {
		return Result{}, false // one server's copy may be what the upstream met
	}
	var fine []string
	for _, a := range f.Alternates {
		if !a.CD && a.resolved() {
			fine = append(fine, a.Server)
		}
	}
	if len(fine) == 0 {
		return Result{}, false
	}
	cause, what := DNSSECBogus, "its trust anchor (the root's key) or its clock"
	if hasEDE(f.UpstreamEDE, dns.ExtendedErrorCodeSignatureExpired, dns.ExtendedErrorCodeSignatureNotYetValid) {
		cause, what = DNSSECExpired, "its clock (signatures look expired or not yet valid to it) or its trust anchor"
	}
	checked := "nxray found the DNSSEC chain of " + zoneOr(f) + " sound"
	switch {
	case f.Chain.Unsupported:
		checked = zoneOr(f) + " uses an algorithm nxray cannot check"
	case !f.Chain.Signed:
		checked = zoneOr(f) + " is not signed"
	}
	return Result{Cause: cause,
		Summary: fmt.Sprintf("%s fails DNSSEC validation of %s (its EDE %s), while %s validate it and %s: "+
			"the fault is in %s's own validation, %s, not in the zone.",
			f.Upstream, f.target(), codes(f.UpstreamEDE), list(dedupe(fine)), checked, f.Upstream, what),
		Advice: fmt.Sprintf("Check %s's clock (NTP) and its trust anchor (its root key file or managed keys), then restart it "+
			"or flush its cache; nothing needs to change in %s or at its parent.", f.Upstream, zoneOr(f)),
	}, true
}

// via names the alias a target was reached from, if any.
func via(f *Findings) string {
	if len(f.Path) < 2 {
		return ""
	}
	return " (reached from " + f.Path[0] + " by alias)"
}

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
