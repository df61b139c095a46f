package lab

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// The validator below is deliberately small: one algorithm, NSEC only, no
// wildcard answers, no CNAME chains. It does what the lab's zones need and
// reports each failure with the RFC 8914 code a real validator would pick,
// so the diagnosis engine meets realistic SERVFAIL answers.

// zoneKeys fetches zone's DNSKEY set from servers and accepts it only if a
// KSK matches one of ds and that key's signature over the set verifies.
func (it *iterator) zoneKeys(ctx context.Context, zone string, servers []string, ds []*dns.DS) ([]*dns.DNSKEY, *dns.EDNS0_EDE) {
	resp, _, err := it.ask(ctx, servers, zone, zone, dns.TypeDNSKEY)
	if err != nil {
		return nil, ede(dns.ExtendedErrorCodeNoReachableAuthority, "no answer for %s DNSKEY: %v", zone, err)
	}
	var keys, matched []*dns.DNSKEY
	var rrset []dns.RR
	for _, rr := range resp.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && dns.CanonicalName(k.Hdr.Name) == zone {
			keys = append(keys, k)
			rrset = append(rrset, k)
			if matchesDS(k, ds) {
				matched = append(matched, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil, ede(dns.ExtendedErrorCodeDNSKEYMissing, "%s has a DS but serves no DNSKEY", zone)
	}
	if len(matched) == 0 {
		// RFC 8914 would also allow 9 (DNSKEY Missing) here; the lab reports 6.
		return nil, ede(dns.ExtendedErrorCodeDNSBogus, "no DNSKEY of %s matches its DS %s", zone, dsTags(ds))
	}
	if e := it.verifyRRset(rrset, sigsFor(resp.Answer, zone, dns.TypeDNSKEY), matched, zone+" DNSKEY"); e != nil {
		return nil, e
	}
	return keys, nil
}

func matchesDS(k *dns.DNSKEY, dss []*dns.DS) bool {
	for _, ds := range dss {
		if ds.KeyTag != k.KeyTag() || ds.Algorithm != k.Algorithm {
			continue
		}
		if got := k.ToDS(ds.DigestType); got != nil && strings.EqualFold(got.Digest, ds.Digest) {
			return true
		}
	}
	return false
}

func dsTags(dss []*dns.DS) string {
	tags := make([]string, len(dss))
	for i, ds := range dss {
		tags[i] = fmt.Sprint(ds.KeyTag)
	}
	return strings.Join(tags, ",")
}

// delegation checks the parent's statement about child: a signed DS set
// (secure child) or a signed NSEC at the cut with NS and without DS
// (insecure child). Anything else is bogus.
func (it *iterator) delegation(resp *dns.Msg, child string, keys []*dns.DNSKEY) ([]*dns.DS, bool, *dns.EDNS0_EDE) {
	var ds []*dns.DS
	var dsSet []dns.RR
	var nsec *dns.NSEC
	for _, rr := range resp.Ns {
		if dns.CanonicalName(rr.Header().Name) != child {
			continue
		}
		switch v := rr.(type) {
		case *dns.DS:
			ds, dsSet = append(ds, v), append(dsSet, v)
		case *dns.NSEC:
			nsec = v
		}
	}
	if len(ds) > 0 {
		if e := it.verifyRRset(dsSet, sigsFor(resp.Ns, child, dns.TypeDS), keys, child+" DS"); e != nil {
			return nil, false, e
		}
		return ds, true, nil
	}
	if nsec == nil {
		return nil, false, ede(dns.ExtendedErrorCodeNSECMissing, "referral to %s has neither DS nor NSEC", child)
	}
	if e := it.verifyRRset([]dns.RR{nsec}, sigsFor(resp.Ns, child, dns.TypeNSEC), keys, child+" NSEC"); e != nil {
		return nil, false, e
	}
	if !hasType(nsec, dns.TypeNS) || hasType(nsec, dns.TypeDS) || hasType(nsec, dns.TypeSOA) {
		return nil, false, ede(dns.ExtendedErrorCodeDNSBogus, "NSEC at %s does not prove an unsigned delegation", child)
	}
	return nil, false, nil
}

// checkAnswer verifies every RRset of an authoritative answer and, for a
// denial, that the signed NSEC records prove it.
func (it *iterator) checkAnswer(resp *dns.Msg, qname string, qtype uint16, keys []*dns.DNSKEY) *dns.EDNS0_EDE {
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rrset := range rrsets(section) {
			h := rrset[0].Header()
			what := h.Name + " " + dns.TypeToString[h.Rrtype]
			if e := it.verifyRRset(rrset, sigsFor(section, h.Name, h.Rrtype), keys, what); e != nil {
				return e
			}
		}
	}
	if resp.Rcode == dns.RcodeSuccess && len(resp.Answer) > 0 {
		return nil
	}
	var nsecs []*dns.NSEC
	for _, rr := range resp.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			nsecs = append(nsecs, n)
		}
	}
	if resp.Rcode == dns.RcodeNameError {
		return proveNXDOMAIN(nsecs, qname)
	}
	return proveNODATA(nsecs, qname, qtype)
}

// proveNXDOMAIN needs an NSEC covering qname and one covering the wildcard
// at its closest encloser (RFC 4035 section 5.4).
func proveNXDOMAIN(nsecs []*dns.NSEC, qname string) *dns.EDNS0_EDE {
	covered := func(name string) bool {
		for _, n := range nsecs {
			if nsecCovers(n, name) {
				return true
			}
		}
		return false
	}
	if !covered(qname) {
		return ede(dns.ExtendedErrorCodeNSECMissing, "no NSEC proves %s does not exist", qname)
	}
	encloser := "."
	for off, end := dns.NextLabel(qname, 0); !end; off, end = dns.NextLabel(qname, off) {
		if !covered(qname[off:]) {
			encloser = qname[off:]
			break
		}
	}
	if !covered(wildcardOf(encloser)) {
		return ede(dns.ExtendedErrorCodeNSECMissing, "no NSEC proves %s does not exist", wildcardOf(encloser))
	}
	return nil
}

// proveNODATA needs the NSEC of qname without qtype (or, for an empty
// non-terminal, one whose next name lies below qname).
func proveNODATA(nsecs []*dns.NSEC, qname string, qtype uint16) *dns.EDNS0_EDE {
	for _, n := range nsecs {
		owner := dns.CanonicalName(n.Hdr.Name)
		if owner == qname && !hasType(n, qtype) && !hasType(n, dns.TypeCNAME) {
			return nil
		}
		if nsecCovers(n, qname) && dns.IsSubDomain(qname, dns.CanonicalName(n.NextDomain)) {
			return nil
		}
	}
	return ede(dns.ExtendedErrorCodeNSECMissing, "no NSEC proves %s has no %s", qname, dns.TypeToString[qtype])
}

// verifyRRset accepts rrset if one RRSIG by one of keys verifies and is
// inside its validity window. Failing that it says why, preferring the
// most specific reason: expired (7) or not yet valid (8) over bogus (6).
func (it *iterator) verifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY, what string) *dns.EDNS0_EDE {
	if len(sigs) == 0 {
		return ede(dns.ExtendedErrorCodeRRSIGsMissing, "no RRSIG over %s", what)
	}
	now := it.now()
	var expired, early *dns.RRSIG
	for _, sig := range sigs {
		for _, k := range keys {
			if k.KeyTag() != sig.KeyTag || sig.Verify(k, rrset) != nil {
				continue
			}
			switch {
			case sig.ValidityPeriod(now):
				return nil
			case now.Unix() > int64(sig.Expiration):
				expired = sig
			default:
				early = sig
			}
		}
	}
	switch {
	case expired != nil:
		return ede(dns.ExtendedErrorCodeSignatureExpired, "RRSIG over %s expired %s",
			what, dns.TimeToString(expired.Expiration))
	case early != nil:
		return ede(dns.ExtendedErrorCodeSignatureNotYetValid, "RRSIG over %s not valid before %s",
			what, dns.TimeToString(early.Inception))
	}
	return ede(dns.ExtendedErrorCodeDNSBogus, "no RRSIG over %s verifies", what)
}

func ede(code uint16, format string, args ...any) *dns.EDNS0_EDE {
	return &dns.EDNS0_EDE{InfoCode: code, ExtraText: fmt.Sprintf(format, args...)}
}

// rrsets groups a section's records, RRSIGs excluded, by owner and type.
func rrsets(section []dns.RR) [][]dns.RR {
	index := map[string]int{}
	var out [][]dns.RR
	for _, rr := range section {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
			continue
		}
		key := dns.CanonicalName(h.Name) + "/" + fmt.Sprint(h.Rrtype)
		i, ok := index[key]
		if !ok {
			i, index[key] = len(out), len(out)
			out = append(out, nil)
		}
		out[i] = append(out[i], rr)
	}
	return out
}

// sigsFor picks the RRSIGs in section over owner/covered.
func sigsFor(section []dns.RR, owner string, covered uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, rr := range section {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == covered &&
			dns.CanonicalName(sig.Hdr.Name) == dns.CanonicalName(owner) {
			out = append(out, sig)
		}
	}
	return out
}

func hasType(n *dns.NSEC, t uint16) bool {
	for _, b := range n.TypeBitMap {
		if b == t {
			return true
		}
	}
	return false
}
