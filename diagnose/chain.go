package diagnose

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// checkChain checks the one link nxray can see from the zone's servers:
// the parent's DS against the zone's DNSKEY set, and the signatures over
// the DNSKEY set and over the answer (or its NSEC denial), for validity
// windows and with Verify.
func (p *NetProber) checkChain(ctx context.Context, a *asker, zone string, ds []*dns.DS, server nsAddr, answer *dns.Msg, now time.Time) *Chain {
	c := &Chain{Signed: len(ds) > 0}
	if !c.Signed {
		return c
	}
	if ds = checkable(ds); len(ds) == 0 {
		c.Unsupported = true
		c.Detail = zone + "'s DS records use only algorithms or digest types nxray cannot check, so nxray treats it as unsigned"
		return c
	}
	m, _ := a.askIn(ctx, "authoritative", zone, server.addr, zone, dns.TypeDNSKEY, flags{do: true})
	if m == nil {
		return c
	}
	var keys []*dns.DNSKEY
	var sigs []*dns.RRSIG
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.DNSKEY:
			keys = append(keys, r)
		case *dns.RRSIG:
			sigs = append(sigs, r)
		}
	}
	if len(keys) == 0 {
		c.DNSKEYMissing, c.Detail = true, zone+" publishes no DNSKEY although its parent has DS"
		return c
	}
	matched := dsMatched(ds, keys)
	if len(matched) == 0 {
		c.DSMismatch = true
		c.Detail = fmt.Sprintf("DS key tag %s at the parent matches no DNSKEY of %s (key tags %s)", dsTags(ds), zone, keyTags(keys))
		return c
	}
	rrs := make([]dns.RR, len(keys))
	for i, k := range keys {
		rrs[i] = k
	}
	// The DNSKEY set must be signed by a key the DS names: a key roll that
	// moved the DS to a key not yet signing breaks the chain.
	if p.checkSigs(c, "DNSKEY", sigs, rrs, matched, now) {
		if c.BadSignature && !c.Expired && !c.NotYetValid {
			c.Detail = fmt.Sprintf("no signature over %s's DNSKEY set by the key the parent's DS names (key tag %s) verifies",
				zone, keyTags(matched))
		}
		return c
	}
	if answer != nil {
		for _, sec := range [][]dns.RR{answer.Answer, answer.Ns} {
			if p.checkSection(c, zone, sec, keys, now) {
				return c
			}
		}
	}
	return c
}

// checkSection checks the signatures over each RRset of one section that
// the zone signs. An RRset is the records of one owner and type: a denial
// holds NSEC records of several owners, each signed on its own. Not the
// zone's to sign: records of other zones (a server may add those it also
// serves), a delegation's NS set, and a CNAME synthesised from a DNAME
// (RFC 6672 section 5.3.1: the DNAME's signature covers it).
func (p *NetProber) checkSection(c *Chain, zone string, sec []dns.RR, keys []*dns.DNSKEY, now time.Time) bool {
	type setKey struct {
		owner string
		rtype uint16
	}
	sets := map[setKey][]dns.RR{}
	var order []setKey
	var sigs []*dns.RRSIG
	for _, rr := range sec {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
			continue
		}
		k := setKey{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		if _, ok := sets[k]; !ok {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	var dnames []string
	for _, k := range order {
		if k.rtype == dns.TypeDNAME {
			dnames = append(dnames, k.owner)
		}
	}
	for _, k := range order {
		if !dns.IsSubDomain(zone, k.owner) || (k.rtype == dns.TypeNS && !strings.EqualFold(k.owner, zone)) ||
			(k.rtype == dns.TypeCNAME && slices.ContainsFunc(dnames, func(d string) bool {
				return dns.IsSubDomain(d, k.owner) && d != k.owner
			})) {
			continue
		}
		var covering []*dns.RRSIG
		others := false
		for _, s := range sigs {
			if s.TypeCovered == k.rtype && strings.EqualFold(s.Hdr.Name, k.owner) {
				if !strings.EqualFold(dns.Fqdn(s.SignerName), zone) {
					others = true
					continue
				}
				covering = append(covering, s)
			}
		}
		if others && len(covering) == 0 {
			continue // signed by a zone below, served by the same server
		}
		if p.checkSigs(c, dns.TypeToString[k.rtype], covering, sets[k], keys, now) {
			return true
		}
	}
	return false
}

// checkSigs marks c when no signature over rrs is both current and
// verifiable, and says whether it did.
func (p *NetProber) checkSigs(c *Chain, what string, sigs []*dns.RRSIG, rrs []dns.RR, keys []*dns.DNSKEY, now time.Time) bool {
	if len(sigs) == 0 {
		c.RRSIGMissing, c.Detail = true, "no RRSIG over "+rrs[0].Header().Name+" "+what
		return true
	}
	if sigs = slices.DeleteFunc(slices.Clone(sigs), func(s *dns.RRSIG) bool { return !verifiable[s.Algorithm] }); len(sigs) == 0 {
		c.Unsupported = true
		c.Detail = "the RRSIGs over " + rrs[0].Header().Name + " " + what + " use only algorithms nxray cannot check"
		return false
	}
	var last string
	for _, s := range sigs {
		if !s.ValidityPeriod(now) {
			exp := time.Unix(int64(s.Expiration), 0).UTC()
			if now.After(exp) {
				c.Expired, last = true, fmt.Sprintf("RRSIG %s %s expired %s", s.Hdr.Name, what, exp.Format(time.RFC3339))
			} else {
				c.NotYetValid, last = true, fmt.Sprintf("RRSIG %s %s not valid before %s", s.Hdr.Name, what,
					time.Unix(int64(s.Inception), 0).UTC().Format(time.RFC3339))
			}
			continue
		}
		for _, k := range keys {
			if k.KeyTag() == s.KeyTag && s.Verify(k, rrs) == nil {
				c.Expired, c.NotYetValid, c.BadSignature = false, false, false
				return false
			}
		}
		c.BadSignature, last = true, fmt.Sprintf("RRSIG %s %s does not verify", s.Hdr.Name, what)
	}
	c.Detail = last
	return true
}

// verifiable are the DNSSEC algorithms whose signatures nxray checks
// (those miekg/dns verifies and RFC 8624 lets a validator use); a zone
// signed only with others is, for nxray, unsigned.
var verifiable = map[uint8]bool{dns.RSASHA1: true, dns.RSASHA1NSEC3SHA1: true, dns.RSASHA256: true,
	dns.RSASHA512: true, dns.ECDSAP256SHA256: true, dns.ECDSAP384SHA384: true, dns.ED25519: true}

// digests are the DS digest types nxray computes.
var digests = map[uint8]bool{dns.SHA1: true, dns.SHA256: true, dns.SHA384: true}

// checkable keeps the DS records nxray can check: a known digest type of a
// key of a verifiable algorithm (RFC 4035 section 5.2: a DS set with none
// such makes the zone insecure).
func checkable(ds []*dns.DS) []*dns.DS {
	var out []*dns.DS
	for _, d := range ds {
		if verifiable[d.Algorithm] && digests[d.DigestType] {
			out = append(out, d)
		}
	}
	return out
}

func dsMatches(ds []*dns.DS, keys []*dns.DNSKEY) bool { return len(dsMatched(ds, keys)) > 0 }

// dsMatched returns the keys some DS record names.
func dsMatched(ds []*dns.DS, keys []*dns.DNSKEY) []*dns.DNSKEY {
	var out []*dns.DNSKEY
	for _, k := range keys {
		for _, d := range ds {
			if k.KeyTag() != d.KeyTag {
				continue
			}
			if kd := k.ToDS(d.DigestType); kd != nil && strings.EqualFold(kd.Digest, d.Digest) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

func dsTags(ds []*dns.DS) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprint(d.KeyTag))
	}
	return strings.Join(s, ", ")
}

func keyTags(keys []*dns.DNSKEY) string {
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprint(k.KeyTag()))
	}
	return strings.Join(s, ", ")
}
