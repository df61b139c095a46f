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
	servers := append([]nsAddr(nil), d.servers...)
	listed := make([]Listing, len(servers))
	for i := range listed {
		listed[i] = ListedByParent
	}
	msgs, answers := r.askServers(ctx, servers, d.asked, target, qtype)
	first := firstGood(answers)
	if first < 0 {
		h.auth = tag(answers, listed)
		return h
	}
	// The zone's own NS set, and the servers only it names.
	childNS, extra := r.apexNS(ctx, d.zone, servers[first])
	h.childNS = childNS
	var only []string
	for _, n := range h.childNS {
		if slices.Contains(d.parentNS, n) {
			continue
		}
		only = append(only, n)
	}
	if len(only) > 0 {
		more, none := r.addresses(ctx, extra, only, 0)
		h.unresolved = append(h.unresolved, none...)
		mm, ma := r.askServers(ctx, more, nil, target, qtype)
		servers, msgs, answers = append(servers, more...), append(msgs, mm...), append(answers, ma...)
		for range more {
			listed = append(listed, ListedByZone)
		}
	}
	for i, s := range servers {
		if slices.Contains(h.childNS, s.host) && listed[i] == ListedByParent {
			listed[i] |= ListedByZone
		}
	}
	h.auth = tag(answers, listed)
	// Each serving server's SOA: its serial, and the zone that holds the
	// name (one server may serve a zone and its child with no referral).
	r.serials(ctx, servers, msgs, h.auth, target)
	soaZone := ""
	for _, a := range h.auth {
		if a.HasSerial && a.SOA != nil {
			if h.zoneSOA == nil || serialAfter(a.SOA.Serial, h.zoneSOA.Serial) {
				s := *a.SOA
				h.zoneSOA = &s
			}
			soaZone = a.SOA.Zone
		}
	}
	ds := d.ds
	if soaZone != "" && !strings.EqualFold(soaZone, d.zone) && dns.IsSubDomain(d.zone, soaZone) {
		// The parent's servers serve the zone too: the NS sets compared
		// are not the parent's, and the DS is theirs to give.
		h.zone, h.parentNS = lower(soaZone), nil
		h.childNS, _ = r.apexNS(ctx, h.zone, servers[first])
		for i := range h.auth {
			if !slices.Contains(h.childNS, h.auth[i].Host) {
				h.auth[i].Host = "" // the parent's name for the server: named by address
			}
		}
		ds = r.dsAt(ctx, h.zone, servers[first])
	}
	h.chain = r.p.checkChain(ctx, r.a, h.zone, ds, servers[first], msgs[first], r.p.cfg.Now())
	if bad := r.p.checkRoot(ctx, r.a); bad != nil && len(ds) > 0 {
		h.chain = bad
	}
	h.end, h.aliases, h.next = chase(msgs[first], target, qtype, h.zone)
	return h
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

func tag(answers []Answer, listed []Listing) []Answer {
	for i := range answers {
		answers[i].Listed = listed[i]
	}
	return answers
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
