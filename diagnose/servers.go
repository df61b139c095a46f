package diagnose

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// zoneServers are the servers of the zone being examined, with each one's
// answer to the question: three slices of one length.
type zoneServers struct {
	zone    string // as far as the diagnosis knows, for the evidence
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
	mm, ma := r.askServers(ctx, z.zone, more, nil, target, qtype)
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
func (r *run) askServers(ctx context.Context, zone string, servers []nsAddr, asked map[string]reply, name string, qtype uint16) ([]*dns.Msg, []Answer) {
	msgs, answers := make([]*dns.Msg, len(servers)), make([]Answer, len(servers))
	parallel(len(servers), askParallel, func(i int) {
		s := servers[i]
		if rep, ok := asked[s.addr]; ok {
			msgs[i], answers[i] = rep.msg, rep.ans
		} else {
			msgs[i], answers[i] = r.a.askIn(ctx, "authoritative", zone, s.addr, name, qtype, flags{do: true})
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
func (r *run) serials(ctx context.Context, zone string, servers []nsAddr, msgs []*dns.Msg, auth []Answer, name string) {
	parallel(len(auth), askParallel, func(i int) {
		a := &auth[i]
		if !a.responded() || a.lame() {
			return
		}
		if s := soaOf(msgs[i]); s != nil && (a.Rcode == dns.RcodeNameError || a.Answers == 0) {
			a.Serial, a.HasSerial = s.Serial, true
			return
		}
		m, _ := r.a.askIn(ctx, "authoritative", zone, servers[i].addr, name, dns.TypeSOA, flags{})
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
	m, _ := r.a.askIn(ctx, "authoritative", zone, s.addr, zone, dns.TypeNS, flags{})
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
