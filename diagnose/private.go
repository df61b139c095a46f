package diagnose

import (
	"context"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// PrivateZone is a zone whose names never leave for the alternates or the
// root hints: internal names, which public resolvers do not know and
// should not see. The diagnosis asks Resolvers about them instead (a
// forward zone's upstreams, else nxray's own), finds the zone's servers
// through them, and asks those directly.
type PrivateZone struct {
	Zone      string   // lowercase, fully qualified
	Resolvers []string // IP:port
}

// private is the private zone name is at or under (the longest), or nil.
func (p *NetProber) private(name string) *PrivateZone {
	var best *PrivateZone
	for i := range p.cfg.Private {
		z := &p.cfg.Private[i]
		if (best == nil || len(z.Zone) > len(best.Zone)) && dns.IsSubDomain(z.Zone, lower(dns.Fqdn(name))) {
			best = z
		}
	}
	return best
}

// resolversFor are the resolvers a diagnosis of name asks as alternates,
// and the upstreams it asks again: a private name's own resolvers, or the
// configured alternates and upstreams.
func (p *NetProber) resolversFor(name string) (alternates, upstreams []string) {
	if pz := p.private(name); pz != nil {
		return pz.Resolvers, pz.Resolvers
	}
	return p.cfg.Alternates, p.cfg.Upstreams
}

// privateWalk finds a private target's zone and servers through the zone's
// resolvers (RD=1), never from the root: the SOA of the closest enclosing
// zone (the answer to a SOA question, or the authority of its denial),
// then that zone's NS set and their addresses. A zone above the private
// zone is not followed (its servers may be public: the root, for a name
// the resolvers sent there); the delegation then has no servers, and the
// verdict says what the resolvers said.
func (r *run) privateWalk(ctx context.Context, target string, pz *PrivateZone) delegation {
	d := delegation{zone: pz.Zone, asked: map[string]reply{}}
	zone := r.privateSOA(ctx, target, pz)
	if zone == "" {
		return d
	}
	d.zone = zone
	ns := r.askResolvers(ctx, pz, zone, dns.TypeNS)
	var hosts []string
	if ns != nil {
		for _, rr := range ns.Answer {
			if n, ok := rr.(*dns.NS); ok && strings.EqualFold(n.Hdr.Name, zone) {
				hosts = append(hosts, lower(n.Ns))
			}
		}
	}
	d.servers, d.unresolved = r.addresses(ctx, ns, dedupe(hosts), 0)
	if ds := r.askResolvers(ctx, pz, zone, dns.TypeDS); ds != nil {
		for _, rr := range ds.Answer {
			if x, ok := rr.(*dns.DS); ok {
				d.ds = append(d.ds, x)
			}
		}
	}
	return d
}

// maxPrivateAncestors bounds the names above a private target whose SOA is
// asked when the target's own SOA question fails.
const maxPrivateAncestors = 4

// privateSOA is the zone of target as the resolvers see it: the owner of
// the SOA in the answer to a SOA question for target (or its denial), at
// or under pz.Zone, or "" for none. A resolver that fails the question for
// target (SERVFAIL: the zone's servers failed it) may still have the
// zone's SOA for a name above it, and an alias answers with its target's
// SOA, so the names up to pz.Zone are asked in turn, a few of them and
// pz.Zone itself.
func (r *run) privateSOA(ctx context.Context, target string, pz *PrivateZone) string {
	names := []string{lower(target)}
	for n := lower(target); n != pz.Zone && dns.IsSubDomain(pz.Zone, n); {
		off, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[off:]
		if len(names) <= maxPrivateAncestors || n == pz.Zone {
			names = append(names, n)
		}
	}
	for _, name := range names {
		m := r.askResolvers(ctx, pz, name, dns.TypeSOA)
		if m == nil {
			continue
		}
		for _, rr := range append(append([]dns.RR(nil), m.Answer...), m.Ns...) {
			if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, name) && dns.IsSubDomain(pz.Zone, soa.Hdr.Name) {
				return lower(soa.Hdr.Name)
			}
		}
		// An answer without its zone's SOA (an alias whose target's SOA came
		// instead): the names above may still say.
	}
	return ""
}

// askResolvers asks a private zone's resolvers a question, recursion
// desired, the first at once and the next only when one fails, and returns
// the first answer that came.
func (r *run) askResolvers(ctx context.Context, pz *PrivateZone, name string, qtype uint16) *dns.Msg {
	for _, res := range pz.Resolvers {
		if m, _ := r.a.ask(ctx, "ns lookup", res, name, qtype, flags{rd: true, do: true}); m != nil &&
			(m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError) {
			return m
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil
}

// lookupPrivate finds the addresses of a name server under a private zone
// through that zone's resolvers: its A records, or its AAAA records when
// it has no A, asked at once.
func (r *run) lookupPrivate(ctx context.Context, host string, pz *PrivateZone) hostAddrs {
	var ha hostAddrs
	answers := make([]*dns.Msg, 2)
	var wg sync.WaitGroup
	for i, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = r.askResolvers(ctx, pz, host, qt)
		}()
	}
	wg.Wait()
	for _, m := range answers {
		if m == nil {
			continue
		}
		ha.known = true
		for _, rr := range m.Answer {
			if ip := addrOf(rr, host); ip != "" {
				ha.ips = append(ha.ips, ip)
			}
		}
		if len(ha.ips) > 0 {
			break
		}
	}
	return ha
}

// delegator names who sends resolvers to a zone's servers: its parent, or
// for a private zone, whose parent nxray does not ask, its resolvers.
// It is a format taking the zone and its servers.
func delegator(f *Findings) string {
	if f.Private != "" && f.ParentNS == nil {
		return "The resolvers of %s name %s as its servers"
	}
	return "The parent of %s delegates it to %s"
}

// privateNote is the sentence a private name's verdict ends with: where
// nxray looked, and where it did not.
func privateNote(f *Findings) string {
	if f.Private == "" {
		return ""
	}
	s := " " + f.Private + " is private: nxray asked only its resolvers (" + strings.Join(f.PrivateResolvers, ", ") +
		") and the servers they named, never public resolvers or the root."
	if len(f.Auth) == 0 {
		s += " They named no zone at or under " + f.Private + " for " + f.target() + ", so no server of it could be asked."
	}
	return s
}
