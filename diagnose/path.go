package diagnose

import (
	"context"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxHops bounds the aliases followed: resolvers give up on longer chains.
const maxHops = 8

// askParallel bounds the servers of the examined zone asked at once.
const askParallel = 16

// hop is what nxray found about one name on the way to the answer: the
// name itself or an alias's target, its zone, and the zone's servers.
type hop struct {
	target     string // the name asked
	end        string // the last name of the aliases inside the zone's answer
	aliases    []string
	next       string // the alias target in another zone, to examine next
	zone       string
	parentNS   []string
	childNS    []string
	unresolved []string
	auth       []Answer
	zoneSOA    *SOA
	chain      *Chain
}

// severity ranks what a hop's zone shows: 2, nothing can be had from it
// (no server answers or serves it, no address for its servers or none
// nxray may probe, a broken DNSSEC chain); 1, some servers fail or
// disagree; 0, none.
func (h *hop) severity() int {
	var good, asked, denied int
	serials := map[uint32]bool{}
	for _, a := range h.auth {
		if a.Denied {
			denied++
		}
		if a.dead() {
			asked++
		}
		if a.responded() {
			asked++
			if !a.lame() {
				good++
				if a.HasSerial {
					serials[a.Serial] = true
				}
			}
		}
	}
	switch {
	case (good == 0 && (asked > 0 || denied > 0 || len(h.unresolved) > 0)) || h.chain.broken():
		return 2
	case good < asked || len(serials) > 1:
		return 1
	}
	return 0
}

// follow examines name and then each alias target in another zone, and
// returns every hop, in order.
func (r *run) follow(ctx context.Context, name string, qtype uint16) []hop {
	var hops []hop
	seen := map[string]bool{lower(name): true}
	target := name
	for range maxHops {
		h := r.examine(ctx, target, qtype)
		hops = append(hops, h)
		if h.next == "" || seen[lower(h.next)] || ctx.Err() != nil {
			break
		}
		seen[lower(h.next)] = true
		target = h.next
	}
	return hops
}

// pick chooses the hop the verdict is about: the first of the worst, so a
// chain that breaks is diagnosed where it breaks. A denial comes from the
// chain's end, whatever the zones on the way show.
func pick(hops []hop, rc int) int {
	if rc == dns.RcodeNameError {
		return len(hops) - 1
	}
	best, worst := len(hops)-1, -1
	for i := range hops {
		if s := hops[i].severity(); s > worst {
			best, worst = i, s
		}
	}
	if worst == 0 {
		return len(hops) - 1
	}
	return best
}

// examine walks to target's zone and asks every server of it, those its
// parent lists and those its own NS set lists, the question and the SOA;
// it checks the zone's DNSSEC link, and says where an alias leads.
func (r *run) examine(ctx context.Context, target string, qtype uint16) hop {
	pz := r.p.private(target)
	r.mu.Lock()
	r.pz = pz
	r.mu.Unlock()
	var d delegation
	if pz != nil {
		d = r.privateWalk(ctx, target, pz)
	} else {
		d = r.walk(ctx, target, qtype, 0)
	}
	h := hop{target: target, end: target, zone: d.zone, parentNS: d.parentNS, unresolved: d.unresolved}
	z := &zoneServers{zone: d.zone, servers: append([]nsAddr(nil), d.servers...)}
	z.msgs, z.answers = r.askServers(ctx, z.zone, z.servers, d.asked, target, qtype)
	first := firstGood(z.answers)
	if first < 0 {
		h.auth = z.tag(h.parentNS, nil, nil)
		return h
	}
	// The zone's own NS set, and the servers only it names.
	childNS, nsMsg := r.apexNS(ctx, d.zone, z.servers[first])
	h.childNS = childNS
	addrs, none := r.widen(ctx, z, h.childNS, nsMsg, target, qtype)
	h.unresolved = append(h.unresolved, none...)
	r.serials(ctx, z.zone, z.servers, z.msgs, z.answers, target)
	ds := d.ds
	if soaZone := z.soaZone(); soaZone != "" && !strings.EqualFold(soaZone, d.zone) && dns.IsSubDomain(d.zone, soaZone) {
		// A server of the parent serves the zone below too, with no
		// referral: examine that zone. The parent's servers that refer to
		// it are right, not lame, and their referral is the parent's NS
		// set; the zone's own NS set may name servers not asked yet.
		h.zone = lower(soaZone)
		z.zone = h.zone
		var refMsg *dns.Msg
		h.parentNS, refMsg = z.dropReferrals(h.zone)
		first = firstGood(z.answers)
		h.childNS, nsMsg = r.apexNS(ctx, h.zone, z.servers[first])
		n := len(z.servers)
		addrs, h.unresolved = r.widen(ctx, z, dedupe(append(slices.Clone(h.parentNS), h.childNS...)), merged(nsMsg, refMsg), target, qtype)
		r.serials(ctx, z.zone, z.servers[n:], z.msgs[n:], z.answers[n:], target)
		z.rename(h.childNS, addrs)
		ds = r.dsAt(ctx, h.zone, z.servers[first])
	}
	h.auth = z.tag(h.parentNS, h.childNS, addrs)
	h.zoneSOA = z.newestSOA()
	h.chain = r.chains(ctx, h.zone, ds, z, first)
	if pz == nil && len(ds) > 0 {
		if bad := r.p.checkRoot(ctx, r.a); bad != nil {
			h.chain = bad
		}
	}
	h.end, h.aliases, h.next = chase(z.msgs[first], target, qtype, h.zone)
	return h
}

// chase follows the aliases (CNAME, DNAME) for name in an authoritative
// answer of zone. It returns the last name of the chain, the names after
// name on it, and the name to examine next when the chain leaves the
// zone's answer without an answer or a denial for its last name.
func chase(m *dns.Msg, name string, qtype uint16, zone string) (end string, aliases []string, next string) {
	end = name
	if m == nil || qtype == dns.TypeCNAME {
		return end, nil, ""
	}
	for range maxHops * 2 {
		t := aliasTarget(m, end, qtype)
		if t == "" || slices.ContainsFunc(aliases, func(s string) bool { return strings.EqualFold(s, t) }) {
			break
		}
		aliases = append(aliases, t)
		end = t
	}
	if len(aliases) > 0 && !dns.IsSubDomain(zone, end) {
		return end, aliases, end // the chain leaves the zone, whatever the server added
	}
	if len(aliases) == 0 || m.Rcode != dns.RcodeSuccess {
		return end, aliases, "" // no alias, or a denial of the chain's end
	}
	for _, rr := range m.Answer {
		if strings.EqualFold(rr.Header().Name, end) && rr.Header().Rrtype == qtype {
			return end, aliases, "" // answered
		}
	}
	if s := soaOf(m); s != nil && dns.IsSubDomain(s.Zone, end) {
		return end, aliases, "" // no data for the end, in the zone itself
	}
	return end, aliases, end
}

// aliasTarget is where a CNAME for name, or a DNAME above it, points.
func aliasTarget(m *dns.Msg, name string, qtype uint16) string {
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			return lower(c.Target)
		}
	}
	if qtype == dns.TypeDNAME {
		return ""
	}
	for _, rr := range m.Answer {
		if d, ok := rr.(*dns.DNAME); ok && dns.IsSubDomain(d.Hdr.Name, name) && !strings.EqualFold(d.Hdr.Name, name) {
			prefix := name[:len(name)-len(d.Hdr.Name)]
			return lower(prefix + d.Target)
		}
	}
	return ""
}
