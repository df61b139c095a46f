package diagnose

import (
	"context"
	"slices"
	"strings"
	"sync"

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
// (no server answers or serves it, no address for its servers, a broken
// DNSSEC chain); 1, some servers fail or disagree; 0, none.
func (h *hop) severity() int {
	var good, asked int
	serials := map[uint32]bool{}
	for _, a := range h.auth {
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
	case (good == 0 && (asked > 0 || len(h.unresolved) > 0)) || h.chain.broken():
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
	d := r.walk(ctx, target, qtype, 0)
	h := hop{target: target, end: target, zone: d.zone, parentNS: d.parentNS, unresolved: d.unresolved}
	z := &zoneServers{servers: append([]nsAddr(nil), d.servers...)}
	z.msgs, z.answers = r.askServers(ctx, z.servers, d.asked, target, qtype)
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
	r.serials(ctx, z.servers, z.msgs, z.answers, target)
	ds := d.ds
	if soaZone := z.soaZone(); soaZone != "" && !strings.EqualFold(soaZone, d.zone) && dns.IsSubDomain(d.zone, soaZone) {
		// A server of the parent serves the zone below too, with no
		// referral: examine that zone. The parent's servers that refer to
		// it are right, not lame, and their referral is the parent's NS
		// set; the zone's own NS set may name servers not asked yet.
		h.zone = lower(soaZone)
		var refMsg *dns.Msg
		h.parentNS, refMsg = z.dropReferrals(h.zone)
		first = firstGood(z.answers)
		h.childNS, nsMsg = r.apexNS(ctx, h.zone, z.servers[first])
		n := len(z.servers)
		addrs, h.unresolved = r.widen(ctx, z, dedupe(append(slices.Clone(h.parentNS), h.childNS...)), merged(nsMsg, refMsg), target, qtype)
		r.serials(ctx, z.servers[n:], z.msgs[n:], z.answers[n:], target)
		z.rename(h.childNS, addrs)
		ds = r.dsAt(ctx, h.zone, z.servers[first])
	}
	h.auth = z.tag(h.parentNS, h.childNS, addrs)
	h.zoneSOA = z.newestSOA()
	h.chain = r.chains(ctx, h.zone, ds, z, first)
	if bad := r.p.checkRoot(ctx, r.a); bad != nil && len(ds) > 0 {
		h.chain = bad
	}
	h.end, h.aliases, h.next = chase(z.msgs[first], target, qtype, h.zone)
	return h
}

// zoneServers are the servers of the zone being examined, with each one's
// answer to the question: three slices of one length.
type zoneServers struct {
	servers []nsAddr
	msgs    []*dns.Msg
	answers []Answer
}

// has says an address is among the servers.
func (z *zoneServers) has(addr string) bool {
	return slices.ContainsFunc(z.servers, func(s nsAddr) bool { return s.addr == addr })
}

// widen asks the servers that names name and that are not asked yet (by
// name, then by address): their addresses from glue's additional section
// or the walk. It returns every address found by name, and the names with
// none.
func (r *run) widen(ctx context.Context, z *zoneServers, names []string, glue *dns.Msg, target string, qtype uint16) (map[string][]string, []string) {
	var look []string
	for _, n := range names {
		if !slices.ContainsFunc(z.servers, func(s nsAddr) bool { return s.host == n }) {
			look = append(look, n)
		}
	}
	found, none := r.addresses(ctx, glue, look, 0)
	addrs := map[string][]string{}
	var more []nsAddr
	for _, s := range found {
		addrs[s.host] = append(addrs[s.host], s.addr)
		if !z.has(s.addr) && !slices.Contains(more, s) {
			more = append(more, s)
		}
	}
	mm, ma := r.askServers(ctx, more, nil, target, qtype)
	z.servers, z.msgs, z.answers = append(z.servers, more...), append(z.msgs, mm...), append(z.answers, ma...)
	return addrs, none
}

// dropReferrals removes the servers whose answer refers to zone (they
// serve its parent only, rightly) and returns the NS names of the first
// such referral, and that answer, for its glue.
func (z *zoneServers) dropReferrals(zone string) ([]string, *dns.Msg) {
	var ns []string
	var ref *dns.Msg
	keep := 0
	for i := range z.servers {
		if m := z.msgs[i]; m != nil && !m.Authoritative && m.Rcode == dns.RcodeSuccess {
			if d, ok := referral(m, "."); ok && strings.EqualFold(d.zone, zone) {
				if ref == nil {
					ns, ref = d.parentNS, m
				}
				continue
			}
		}
		z.servers[keep], z.msgs[keep], z.answers[keep] = z.servers[i], z.msgs[i], z.answers[i]
		keep++
	}
	z.servers, z.msgs, z.answers = z.servers[:keep], z.msgs[:keep], z.answers[:keep]
	return ns, ref
}

// rename names each server by the zone's own NS name for its address: the
// walk named it by its name in the parent zone.
func (z *zoneServers) rename(childNS []string, addrs map[string][]string) {
	for i, s := range z.servers {
		if slices.Contains(childNS, s.host) {
			continue
		}
		z.servers[i].host, z.answers[i].Host = "", ""
		for _, n := range childNS {
			if slices.Contains(addrs[n], s.addr) {
				z.servers[i].host, z.answers[i].Host = n, n
			}
		}
	}
}

// tag says of each answer who lists its server: the parent, the zone's
// own NS set, by name or by an address found for a name. With the
// parent's NS set unknown, every server counts as the parent's.
func (z *zoneServers) tag(parentNS, childNS []string, addrs map[string][]string) []Answer {
	in := func(names []string, s nsAddr) bool {
		return slices.Contains(names, s.host) || slices.ContainsFunc(names, func(n string) bool {
			return slices.Contains(addrs[n], s.addr)
		})
	}
	for i, s := range z.servers {
		var l Listing
		if parentNS == nil || in(parentNS, s) {
			l |= ListedByParent
		}
		if in(childNS, s) {
			l |= ListedByZone
		}
		z.answers[i].Listed = l
	}
	return z.answers
}

// soaZone is the zone the serving servers' SOAs name.
func (z *zoneServers) soaZone() string {
	for _, a := range z.answers {
		if a.HasSerial && a.SOA != nil {
			return a.SOA.Zone
		}
	}
	return ""
}

// newestSOA is the SOA with the highest serial the servers publish.
func (z *zoneServers) newestSOA() *SOA {
	var out *SOA
	for _, a := range z.answers {
		if a.HasSerial && a.SOA != nil && (out == nil || serialAfter(a.SOA.Serial, out.Serial)) {
			s := *a.SOA
			out = &s
		}
	}
	return out
}

// chains checks the zone's DNSSEC link at the first serving server and at
// one more for each other serial the servers publish (a secondary's copy
// may be signed apart), and returns the first broken one, or the first.
func (r *run) chains(ctx context.Context, zone string, ds []*dns.DS, z *zoneServers, first int) *Chain {
	now := r.p.cfg.Now()
	out := r.p.checkChain(ctx, r.a, zone, ds, z.servers[first], z.msgs[first], now)
	seen := map[uint32]bool{z.answers[first].Serial: true}
	for i, a := range z.answers {
		if out.broken() || !a.HasSerial || seen[a.Serial] || !a.responded() || a.lame() {
			continue
		}
		seen[a.Serial] = true
		if c := r.p.checkChain(ctx, r.a, zone, ds, z.servers[i], z.msgs[i], now); c.broken() {
			c.Detail += " (at " + label(a) + ")"
			out = c
		}
	}
	return out
}

// merged is a message whose additional section holds both's.
func merged(a, b *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	for _, x := range []*dns.Msg{a, b} {
		if x != nil {
			m.Extra = append(m.Extra, x.Extra...)
		}
	}
	return m
}

// firstGood is the index of the first server that serves the zone, or -1.
func firstGood(answers []Answer) int {
	for i, a := range answers {
		if a.responded() && !a.lame() {
			return i
		}
	}
	return -1
}

// askServers asks the question of every server not asked yet (asked holds
// the walk's replies), at most askParallel at once.
func (r *run) askServers(ctx context.Context, servers []nsAddr, asked map[string]reply, name string, qtype uint16) ([]*dns.Msg, []Answer) {
	msgs, answers := make([]*dns.Msg, len(servers)), make([]Answer, len(servers))
	parallel(len(servers), askParallel, func(i int) {
		s := servers[i]
		if rep, ok := asked[s.addr]; ok {
			msgs[i], answers[i] = rep.msg, rep.ans
		} else {
			msgs[i], answers[i] = r.a.ask(ctx, "authoritative", s.addr, name, qtype, flags{do: true})
		}
		answers[i].Host = s.host
	})
	return msgs, answers
}

// parallel calls fn for 0 to n-1, at most limit at once, and waits for all.
func parallel(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// serials fills in each serving server's SOA: from its negative answer, or
// by asking it for name's SOA, whose answer or denial carries the SOA of
// the zone that holds name.
func (r *run) serials(ctx context.Context, servers []nsAddr, msgs []*dns.Msg, auth []Answer, name string) {
	parallel(len(auth), askParallel, func(i int) {
		a := &auth[i]
		if !a.responded() || a.lame() {
			return
		}
		if s := soaOf(msgs[i]); s != nil && (a.Rcode == dns.RcodeNameError || a.Answers == 0) {
			a.Serial, a.HasSerial = s.Serial, true
			return
		}
		m, _ := r.a.ask(ctx, "authoritative", servers[i].addr, name, dns.TypeSOA, flags{})
		if m == nil || !m.Authoritative {
			return
		}
		s := soaOf(m)
		if s != nil && !dns.IsSubDomain(s.Zone, name) {
			s = nil // another zone's, added to a chased alias
		}
		for _, rr := range m.Answer {
			if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) {
				s = &SOA{Zone: lower(soa.Hdr.Name), Serial: soa.Serial, TTL: soa.Hdr.Ttl, Minimum: soa.Minttl}
			}
		}
		if s != nil {
			a.Serial, a.HasSerial = s.Serial, true
			if a.SOA == nil {
				a.SOA = s
			}
		}
	})
}

// serialAfter compares SOA serials in sequence space (RFC 1982).
func serialAfter(a, b uint32) bool { return a != b && int32(a-b) > 0 }

// apexNS asks a server for the zone's own NS set, and returns the names
// and the answer (whose additional section may hold their addresses).
func (r *run) apexNS(ctx context.Context, zone string, s nsAddr) ([]string, *dns.Msg) {
	m, _ := r.a.ask(ctx, "authoritative", s.addr, zone, dns.TypeNS, flags{})
	if m == nil {
		return nil, nil
	}
	var out []string
	for _, rr := range m.Answer {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
			out = append(out, strings.ToLower(ns.Ns))
		}
	}
	return out, m
}

// dsAt asks a server of a zone's parent for the zone's DS records.
func (r *run) dsAt(ctx context.Context, zone string, s nsAddr) []*dns.DS {
	m, _ := r.a.ask(ctx, "authoritative", s.addr, zone, dns.TypeDS, flags{do: true})
	if m == nil {
		return nil
	}
	var out []*dns.DS
	for _, rr := range m.Answer {
		if ds, ok := rr.(*dns.DS); ok {
			out = append(out, ds)
		}
	}
	return out
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
