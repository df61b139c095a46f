package diagnose

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// delegation is what the walk found: the closest existing zone of a name,
// the NS names its parent lists, the addresses to ask, and the parent's DS.
type delegation struct {
	zone     string
	parentNS []string
	servers  []nsAddr
	// unresolved are parent NS names for which no address was found.
	unresolved []string
	ds         []*dns.DS
	// asked holds what the walk already got from the zone's servers, by
	// address, so they are not asked (and waited for) twice.
	asked map[string]reply
}

// reply is one server's answer to one question.
type reply struct {
	msg *dns.Msg
	ans Answer
}

// nsAddr is one address of one name server.
type nsAddr struct {
	host string
	addr string // IP:port
}

const (
	// maxReferrals bounds the walk: no real name is more cuts deep.
	maxReferrals = 16
	// maxHostDepth bounds the walks for NS names without glue, whose own
	// zones may be served by names without glue in turn.
	maxHostDepth = 2
	// walkParallel bounds the servers of one zone asked at once.
	walkParallel = 4
	// stagger is how long the walk waits for one server of a zone before
	// it asks the next as well, so that silent servers cost a fraction of
	// a probe timeout each, not a whole one.
	stagger = 150 * time.Millisecond
)

// run is one diagnosis's probing: the prober's settings, the asker that
// counts and records its probes, and the NS addresses it has looked up.
type run struct {
	p *NetProber
	a *asker

	mu    sync.Mutex // guards hosts and pz
	hosts map[string]hostAddrs
	// pz is the private zone of the hop being examined (hops are examined
	// one at a time), nil for a public one: its name servers' addresses
	// are found through its resolvers too, whatever their names.
	pz *PrivateZone
}

// hostAddrs is what the walk learned of an NS name: its addresses, and
// whether its zone's servers said so (known), or the walk never got that
// far (budget, deadline, depth): then it is not "does not resolve".
type hostAddrs struct {
	ips   []string
	known bool
}

// walk follows referrals with RD=0 from the root hints towards name, as
// dig +trace does, and stops at the zone whose servers answer for it
// with authority, or that the parent delegates to servers that will not
// (or cannot) answer. depth counts the walks made to find NS addresses.
func (r *run) walk(ctx context.Context, name string, qtype uint16, depth int) delegation {
	d := delegation{zone: "."}
	for _, ip := range r.p.cfg.RootHints {
		d.servers = append(d.servers, nsAddr{host: "root", addr: r.p.authAddr(ip)})
	}
	role := "root"
	if depth > 0 {
		role = "ns lookup"
	}
	for range maxReferrals {
		var m *dns.Msg
		m, d.asked = r.askFirst(ctx, role, d.zone, d.servers, name, qtype)
		if m == nil || m.Authoritative || m.Rcode != dns.RcodeSuccess {
			return d // the servers of d.zone answered (or could not): d.zone is it
		}
		next, ok := referral(m, d.zone)
		if !ok {
			return d
		}
		next.servers, next.unresolved = r.addresses(ctx, m, next.parentNS, depth)
		d = next
		if depth == 0 {
			role = "authoritative"
		}
		if len(d.servers) == 0 {
			return d
		}
	}
	return d
}

// useful says an answer moves the walk on: a referral or an answer with
// authority. A lame server's REFUSED or SERVFAIL does not.
func useful(m *dns.Msg) bool {
	return m != nil && (m.Authoritative || (m.Rcode == dns.RcodeSuccess && len(m.Ns) > 0))
}

// askFirst asks the servers of one zone until one gives a useful answer:
// the first at once, then one more every stagger while none has, at most
// walkParallel at a time, and the next at once when one fails. It returns
// that answer (or, when none was useful, the first that came at all) and
// every server's reply; servers given up on once one answered are not in
// it, so a later question asks them afresh.
func (r *run) askFirst(ctx context.Context, role, zone string, servers []nsAddr, name string, qtype uint16) (*dns.Msg, map[string]reply) {
	asked := map[string]reply{}
	if len(servers) == 0 {
		return nil, asked
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		s nsAddr
		reply
	}
	results := make(chan result, len(servers))
	next, inflight := 0, 0
	launch := func() {
		s := servers[next]
		next++
		inflight++
		go func() {
			m, ans := r.a.askIn(ctx, role, zone, s.addr, name, qtype, flags{do: true})
			ans.Host = s.host
			results <- result{s, reply{m, ans}}
		}()
	}
	launch()
	tick := time.NewTicker(stagger)
	defer tick.Stop()
	var best *dns.Msg
	for inflight > 0 {
		select {
		case res := <-results:
			inflight--
			if !res.ans.NotAsked {
				asked[res.s.addr] = res.reply
			}
			if best == nil {
				best = res.msg
			}
			if useful(res.msg) {
				cancel()
				for ; inflight > 0; inflight-- {
					if late := <-results; !late.ans.NotAsked {
						asked[late.s.addr] = late.reply
					}
				}
				return res.msg, asked
			}
			if next < len(servers) && ctx.Err() == nil {
				launch()
			}
		case <-tick.C:
			if next < len(servers) && inflight < walkParallel && ctx.Err() == nil {
				launch()
			}
		}
	}
	return best, asked
}

// referral reads a delegation to a zone below from out of m's authority.
func referral(m *dns.Msg, from string) (delegation, bool) {
	var d delegation
	for _, rr := range m.Ns {
		switch r := rr.(type) {
		case *dns.NS:
			if !dns.IsSubDomain(from, r.Hdr.Name) || strings.EqualFold(r.Hdr.Name, from) {
				continue
			}
			d.zone = strings.ToLower(r.Hdr.Name)
			d.parentNS = append(d.parentNS, strings.ToLower(r.Ns))
		case *dns.DS:
			d.ds = append(d.ds, r)
		}
	}
	return d, d.zone != ""
}

// addresses finds addresses for NS names: the glue in m's additional
// section, or else the name's own address records, found by a walk from
// the root hints (never through a resolver, which could steer the probes
// anywhere), a few names at once. It returns the addresses, in the order
// of hosts, and the names that have none.
func (r *run) addresses(ctx context.Context, m *dns.Msg, hosts []string, depth int) ([]nsAddr, []string) {
	found := make([][]string, len(hosts))
	unknown := make([]bool, len(hosts))
	parallel(len(hosts), walkParallel, func(i int) {
		if m != nil {
			for _, rr := range m.Extra {
				if ip := addrOf(rr, hosts[i]); ip != "" {
					found[i] = append(found[i], ip)
				}
			}
		}
		if len(found[i]) == 0 {
			ha := r.lookupHost(ctx, hosts[i], depth)
			found[i], unknown[i] = ha.ips, !ha.known
		}
	})
	var out []nsAddr
	var none []string
	for i, h := range hosts {
		for _, ip := range found[i] {
			out = append(out, nsAddr{host: h, addr: r.p.authAddr(ip)})
		}
		if len(found[i]) == 0 && !unknown[i] {
			none = append(none, h)
		}
	}
	return out, none
}

// lookupHost finds an NS name's addresses by walking from the root: its A
// records, or its AAAA records when it has no A. Each name is looked up
// once per diagnosis.
func (r *run) lookupHost(ctx context.Context, host string, depth int) hostAddrs {
	if depth >= maxHostDepth {
		return hostAddrs{}
	}
	key := strings.ToLower(dns.Fqdn(host))
	r.mu.Lock()
	ha, ok := r.hosts[key]
	pz := r.pz
	r.mu.Unlock()
	if ok {
		return ha
	}
	if hz := r.p.private(key); hz != nil {
		pz = hz
	}
	if pz != nil {
		// Never from the root: the name, or the zone it serves, is private.
		ha = r.lookupPrivate(ctx, key, pz)
		r.mu.Lock()
		r.hosts[key] = ha
		r.mu.Unlock()
		return ha
	}
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		d := r.walk(ctx, key, qt, depth+1)
		for _, rep := range d.asked {
			if rep.msg == nil || !(rep.msg.Authoritative || rep.msg.Rcode == dns.RcodeNameError) {
				continue
			}
			ha.known = true
			for _, rr := range rep.msg.Answer {
				if ip := addrOf(rr, key); ip != "" {
					ha.ips = append(ha.ips, ip)
				}
			}
			break
		}
		if len(ha.ips) > 0 || !ha.known {
			break
		}
	}
	r.mu.Lock()
	r.hosts[key] = ha
	r.mu.Unlock()
	return ha
}

func addrOf(rr dns.RR, host string) string {
	if !strings.EqualFold(rr.Header().Name, host) {
		return ""
	}
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	}
	return ""
}

func (p *NetProber) authAddr(ip string) string {
	return net.JoinHostPort(ip, strconv.Itoa(p.cfg.AuthPort))
}
