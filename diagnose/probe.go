package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ProbeConfig says whom a NetProber asks.
type ProbeConfig struct {
	// Upstreams are nxray's own upstreams (IP:port, or tls://… and
	// https://… as configured, asked through Exchanger): asked again for the
	// negative answer's SOA, and for a health question when none answered.
	Upstreams []string
	// Alternates are other resolvers (as Upstreams), asked with CD=0 and CD=1.
	Alternates []string
	// Private are the zones whose names are never sent to the alternates
	// or the root hints (see PrivateZone).
	Private []PrivateZone
	// RootHints are the root servers' IPs; the walk starts there.
	RootHints []string
	// AuthPort is the port of every authoritative server (53; labs differ).
	AuthPort int
	// TrustAnchors are the DS records of the root's keys. When set, the
	// root's DNSKEY set is checked against them (once an hour) whenever a
	// diagnosis meets a signed zone.
	TrustAnchors []*dns.DS
	// Deny lists networks never probed, whatever NS records or glue lead
	// to them (link-local, multicast and the like: see config's default).
	// The upstreams, alternates and root hints named above are exempt:
	// the operator chose them. Nil denies nothing.
	Deny []netip.Prefix
	// Self lists nxray's own listen addresses, never probed, not even as
	// an upstream; an unspecified address stands for every local address
	// (loopback and the interfaces') at its port.
	Self []netip.AddrPort
	// Exchanger asks the upstreams, alternates and private resolvers given
	// as tls://… or https://… (their config spelling); nil leaves them
	// unasked (each probe fails, saying so).
	Exchanger Exchanger
	// Timeout bounds one probe; zero means 1s.
	Timeout time.Duration
	// Now is the clock for signature windows; nil means time.Now.
	Now func() time.Time
}

// NetProber gathers findings by asking real servers, as an expert would
// with dig: the alternates with and without checking, the delegation from
// the root, every server of the zone, and the zone's DNSSEC link. Safe for
// concurrent use.
type NetProber struct {
	cfg   ProbeConfig
	guard *guard // never nil

	mu           sync.Mutex // guards the three fields below
	rootBad      *Chain     // nil: the root matches the anchors (or was not checked)
	rootUntil    time.Time  // when to check the root again
	rootChecking bool       // a diagnosis is checking it now
}

// rootRecheck is how long a root check against the trust anchors holds.
const rootRecheck = time.Hour

var _ Prober = (*NetProber)(nil)

// NewNetProber checks cfg.
func NewNetProber(cfg ProbeConfig) (*NetProber, error) {
	if len(cfg.RootHints) == 0 {
		return nil, errors.New("diagnose: no root hints")
	}
	for _, ip := range cfg.RootHints {
		if _, err := netip.ParseAddr(ip); err != nil {
			return nil, errors.New("diagnose: root hint " + ip + " is not an IP address")
		}
	}
	if cfg.AuthPort == 0 {
		cfg.AuthPort = 53
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &NetProber{cfg: cfg, guard: newGuard(cfg)}, nil
}

// Probe gathers the findings about f. The alternates are asked while the
// delegation is walked, and the zone's servers all at once, so a diagnosis
// that meets silent servers takes about one probe timeout, not one per
// silent server. Aliases are followed into the zones they point to.
func (p *NetProber) Probe(ctx context.Context, f Failure, take func() bool) (Findings, []Evidence) {
	r := &run{p: p, a: &asker{timeout: p.cfg.Timeout, take: take, guard: p.guard, encrypted: p.cfg.Exchanger}, hosts: map[string]hostAddrs{}}
	var fd Findings
	alts, ups := p.resolversFor(f.Name)
	if pz := p.private(f.Name); pz != nil {
		fd.Private, fd.PrivateResolvers = pz.Zone, pz.Resolvers
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fd.Alternates = askAlternates(ctx, r.a, f, alts)
	}()
	if f.Rcode == NoAnswer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd.UpstreamHealthy, fd.UpstreamReasons = upstreamHealthy(ctx, r.a, ups)
		}()
	}
	if f.Rcode == dns.RcodeRefused && len(ups) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A question every resolver answers: refused too, the upstream
			// refuses this client; answered, it refuses this name.
			if _, ans := r.a.ask(ctx, "upstream", upstreamOf(f, ups), ".", dns.TypeNS, flags{rd: true}); ans.Rcode == dns.RcodeSuccess {
				fd.UpstreamControl = ControlAnswered
			} else if ans.Rcode == dns.RcodeRefused {
				fd.UpstreamControl = ControlRefused
			}
		}()
	}
	if f.Rcode == dns.RcodeNameError && f.SOA == nil && len(ups) > 0 {
		if _, ans := r.a.ask(ctx, "upstream", upstreamOf(f, ups), f.Name, f.Qtype, flags{rd: true}); ans.Rcode == dns.RcodeNameError {
			fd.UpstreamSOA = ans.SOA
		}
	}
	hops := r.follow(ctx, f.Name, f.Qtype)
	h := hops[pick(hops, f.Rcode)]
	fd.Target, fd.Zone, fd.ParentNS, fd.ChildNS = h.end, h.zone, h.parentNS, h.childNS
	fd.Unresolved, fd.Auth, fd.ZoneSOA, fd.Chain = h.unresolved, h.auth, h.zoneSOA, h.chain
	for _, x := range hops {
		fd.Path = append(fd.Path, x.aliases...)
		if x.target == h.target {
			break
		}
	}
	if len(fd.Path) > 0 {
		fd.Path = append([]string{lower(f.Name)}, fd.Path...)
	}
	wg.Wait()
	return fd, r.a.evidence()
}

// askAlternates asks every alternate with CD=0 and CD=1, all at once.
func askAlternates(ctx context.Context, a *asker, f Failure, alternates []string) []Answer {
	out := make([]Answer, 2*len(alternates))
	var wg sync.WaitGroup
	for i, alt := range alternates {
		for j, cd := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, out[2*i+j] = a.ask(ctx, "alternate", alt, f.Name, f.Qtype, flags{rd: true, cd: cd, do: true})
			}()
		}
	}
	wg.Wait()
	return out
}

// upstreamHealthy asks each upstream, at once, a question every resolver
// answers; reasons are why each encrypted one failed it ("tls://…:
// certificate signed by unknown authority"), in configured order.
func upstreamHealthy(ctx context.Context, a *asker, upstreams []string) (bool, []string) {
	var healthy atomic.Bool
	var wg sync.WaitGroup
	why := make([]string, len(upstreams))
	for i, u := range upstreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ans := a.ask(ctx, "upstream", u, ".", dns.TypeNS, flags{rd: true})
			if ans.responded() {
				healthy.Store(true)
			} else if encrypted(u) && ans.Err != "" && !ans.NotAsked {
				why[i] = u + ": " + ans.Err
			}
		}()
	}
	wg.Wait()
	var reasons []string
	for _, w := range why {
		if w != "" {
			reasons = append(reasons, w)
		}
	}
	return healthy.Load(), reasons
}

// checkRoot compares the root's DNSKEY set with the trust anchors, at most
// once per rootRecheck. It returns the broken link, or nil.
func (p *NetProber) checkRoot(ctx context.Context, a *asker) *Chain {
	if len(p.cfg.TrustAnchors) == 0 {
		return nil
	}
	now := p.cfg.Now()
	p.mu.Lock()
	if now.Before(p.rootUntil) || p.rootChecking {
		// Checked lately, or being checked by another diagnosis: its
		// last finding stands meanwhile.
		defer p.mu.Unlock()
		return p.rootBad
	}
	p.rootChecking = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.rootChecking = false
		p.mu.Unlock()
	}()
	var keys []*dns.DNSKEY
	for _, ip := range p.cfg.RootHints {
		m, _ := a.askIn(ctx, "root", ".", p.authAddr(ip), ".", dns.TypeDNSKEY, flags{do: true})
		if m == nil {
			continue
		}
		for _, rr := range m.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok {
				keys = append(keys, k)
			}
		}
		break
	}
	if len(keys) == 0 {
		return nil // unreachable roots are the walk's finding, not the anchors'
	}
	var bad *Chain
	if !dsMatches(p.cfg.TrustAnchors, keys) {
		bad = &Chain{Signed: true, AnchorMismatch: true, Detail: fmt.Sprintf(
			"the root's DNSKEY set (key tags %s) matches none of nxray's trust anchors (key tags %s)",
			keyTags(keys), dsTags(p.cfg.TrustAnchors))}
	}
	p.mu.Lock()
	p.rootBad, p.rootUntil = bad, now.Add(rootRecheck)
	p.mu.Unlock()
	return bad
}

// upstreamOf picks the upstream that gave the failure, if it is one of ours.
func upstreamOf(f Failure, ups []string) string {
	for _, u := range ups {
		if u == f.Upstream {
			return u
		}
	}
	return ups[0]
}
