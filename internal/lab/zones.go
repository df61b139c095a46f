package lab

import (
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// zone is one zone's data as an authoritative server holds it: RRsets by
// owner and type, their signatures, and the NSEC chain in canonical order.
// It is built once by StartHierarchy and only read afterwards, so servers
// share it across goroutines without locking.
type zone struct {
	origin string                         // lowercase FQDN
	rrs    map[string]map[uint16][]dns.RR // owner (lowercase) -> type -> RRset
	sigs   map[string]map[uint16][]dns.RR // owner (lowercase) -> covered type -> RRSIGs
	nsec   []*dns.NSEC                    // canonical order; empty when unsigned
	keys   *zoneKeys                      // nil when unsigned
	soa    *dns.SOA                       // never nil
}

// zoneKeys is a KSK/ZSK pair. The split mirrors real zones, so a DS that
// matches no DNSKEY is a distinct fault from a ZSK signature that fails.
type zoneKeys struct {
	ksk, zsk         *dns.DNSKEY
	kskPriv, zskPriv crypto.Signer
}

// newZoneKeys generates an ECDSAP256SHA256 KSK (flags 257) and ZSK (256).
func newZoneKeys(origin string) (*zoneKeys, error) {
	k := &zoneKeys{}
	var err error
	if k.ksk, k.kskPriv, err = newKey(origin, 257); err != nil {
		return nil, err
	}
	if k.zsk, k.zskPriv, err = newKey(origin, 256); err != nil {
		return nil, err
	}
	return k, nil
}

func newKey(origin string, flags uint16) (*dns.DNSKEY, crypto.Signer, error) {
	key := &dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := key.Generate(256)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key for %s: %w", origin, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("key for %s is not a crypto.Signer", origin)
	}
	return key, signer, nil
}

// ds is the DS record a parent publishes for these keys: the KSK's SHA-256 digest.
func (k *zoneKeys) ds() *dns.DS { return k.ksk.ToDS(dns.SHA256) }

// newZone starts a zone with its SOA; records parses zone-file lines, so the
// lab's contents read like the zone files an operator would write.
func newZone(origin string, serial uint32, records ...string) (*zone, error) {
	origin = dns.CanonicalName(origin)
	z := &zone{
		origin: origin,
		rrs:    map[string]map[uint16][]dns.RR{},
		sigs:   map[string]map[uint16][]dns.RR{},
	}
	z.soa = &dns.SOA{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns:  origin, Mbox: "hostmaster." + strings.TrimPrefix(origin, "."),
		Serial: serial, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300,
	}
	z.add(z.soa)
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", origin, err)
		}
		if !dns.IsSubDomain(origin, rr.Header().Name) {
			return nil, fmt.Errorf("zone %s: %s is out of zone", origin, rr.Header().Name)
		}
		z.add(rr)
	}
	if apexNS := z.rrs[origin][dns.TypeNS]; len(apexNS) > 0 {
		z.soa.Ns = apexNS[0].(*dns.NS).Ns // MNAME names a real server of the zone
	}
	return z, nil
}

func (z *zone) add(rrs ...dns.RR) {
	for _, rr := range rrs {
		h := rr.Header()
		owner := dns.CanonicalName(h.Name)
		if z.rrs[owner] == nil {
			z.rrs[owner] = map[uint16][]dns.RR{}
		}
		z.rrs[owner][h.Rrtype] = append(z.rrs[owner][h.Rrtype], rr)
	}
}

// negTTL is the negative-caching TTL of RFC 2308: min(SOA TTL, MINIMUM).
func (z *zone) negTTL() uint32 { return min(z.soa.Hdr.Ttl, z.soa.Minttl) }

// sign publishes the DNSKEYs, builds the NSEC chain and signs every
// authoritative RRset with a validity window of [inception, expiration].
// Passing a window in the past is how expired.test gets its stale RRSIGs.
func (z *zone) sign(k *zoneKeys, inception, expiration time.Time) error {
	z.keys = k
	z.add(k.ksk, k.zsk)
	z.buildNSEC()
	for owner, types := range z.rrs {
		if z.isGlue(owner) {
			continue
		}
		atCut := z.isCut(owner)
		for t, rrset := range types {
			if atCut && t != dns.TypeDS && t != dns.TypeNSEC {
				continue // the child's NS set is not the parent's data
			}
			key, priv := k.zsk, k.zskPriv
			if t == dns.TypeDNSKEY {
				key, priv = k.ksk, k.kskPriv
			}
			sig := &dns.RRSIG{
				Hdr:        dns.RR_Header{Ttl: rrset[0].Header().Ttl},
				Algorithm:  key.Algorithm,
				KeyTag:     key.KeyTag(),
				SignerName: z.origin,
				Inception:  uint32(inception.Unix()),
				Expiration: uint32(expiration.Unix()),
			}
			if err := sig.Sign(priv, rrset); err != nil {
				return fmt.Errorf("signing %s %s: %w", owner, dns.TypeToString[t], err)
			}
			if z.sigs[owner] == nil {
				z.sigs[owner] = map[uint16][]dns.RR{}
			}
			z.sigs[owner][t] = append(z.sigs[owner][t], sig)
		}
	}
	return nil
}

// buildNSEC links every authoritative owner and delegation point (not glue)
// in canonical order, the last one pointing back to the apex.
func (z *zone) buildNSEC() {
	var owners []string
	for owner := range z.rrs {
		if !z.isGlue(owner) {
			owners = append(owners, owner)
		}
	}
	slices.SortFunc(owners, canonicalCompare)
	for i, owner := range owners {
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for t := range z.rrs[owner] {
			if z.isCut(owner) && t != dns.TypeNS && t != dns.TypeDS {
				continue
			}
			types = append(types, t)
		}
		slices.Sort(types)
		n := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: z.negTTL()},
			NextDomain: owners[(i+1)%len(owners)],
			TypeBitMap: types,
		}
		z.nsec = append(z.nsec, n)
		z.add(n)
	}
}

// isCut reports whether owner is a delegation point inside the zone.
func (z *zone) isCut(owner string) bool {
	return owner != z.origin && len(z.rrs[owner][dns.TypeNS]) > 0
}

// isGlue reports whether owner lies strictly below a delegation point.
func (z *zone) isGlue(owner string) bool {
	cut := z.cutAbove(owner)
	return cut != "" && cut != owner
}

// cutAbove is the highest delegation point at or above name, or "".
// Highest, because everything below the first cut belongs to the child.
func (z *zone) cutAbove(name string) string {
	labels := dns.SplitDomainName(name)
	zl := dns.CountLabel(z.origin)
	for i := len(labels) - zl - 1; i >= 0; i-- {
		cand := dns.Fqdn(strings.Join(labels[i:], "."))
		if z.isCut(cand) {
			return cand
		}
	}
	return ""
}

// exists reports whether name owns data or is an empty non-terminal.
func (z *zone) exists(name string) bool {
	if _, ok := z.rrs[name]; ok {
		return true
	}
	for owner := range z.rrs {
		if dns.IsSubDomain(name, owner) {
			return true
		}
	}
	return false
}

// covering returns the NSEC that proves name absent (owner < name < next).
func (z *zone) covering(name string) *dns.NSEC {
	for _, n := range z.nsec {
		if nsecCovers(n, name) {
			return n
		}
	}
	return nil
}

// closestEncloser is the longest existing ancestor of a name that does not exist.
func (z *zone) closestEncloser(name string) string {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		if cand := name[off:]; z.exists(cand) || cand == z.origin {
			return cand
		}
	}
	return z.origin
}

// withSigs returns the RRset of owner/type followed by its RRSIGs when do is set.
func (z *zone) withSigs(owner string, t uint16, do bool) []dns.RR {
	out := slices.Clone(z.rrs[owner][t])
	if do {
		out = append(out, z.sigs[owner][t]...)
	}
	return out
}

// nsecCovers reports whether n proves that name does not exist.
func nsecCovers(n *dns.NSEC, name string) bool {
	owner, next := dns.CanonicalName(n.Hdr.Name), dns.CanonicalName(n.NextDomain)
	name = dns.CanonicalName(name)
	if canonicalCompare(next, owner) <= 0 { // last NSEC wraps to the apex
		return canonicalCompare(owner, name) < 0 && dns.IsSubDomain(next, name)
	}
	return canonicalCompare(owner, name) < 0 && canonicalCompare(name, next) < 0
}

// canonicalCompare orders names as RFC 4034 section 6.1 does: label by
// label from the right, lowercase, an absent label sorting first.
func canonicalCompare(a, b string) int {
	la := dns.SplitDomainName(strings.ToLower(a))
	lb := dns.SplitDomainName(strings.ToLower(b))
	for i := 1; i <= len(la) && i <= len(lb); i++ {
		if c := strings.Compare(la[len(la)-i], lb[len(lb)-i]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}
