package diagnose

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// diagnose runs the prober for f within the engine's bounds, classifies
// what it found, stores the verdict and logs it.
func (e *Engine) diagnose(f Failure) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.Timeout)
	defer cancel()
	var used atomic.Int64 // the prober asks from several goroutines
	take := func() bool {
		if used.Add(1) > int64(e.cfg.ProbeBudget) || e.limiter.Wait(ctx) != nil {
			return false
		}
		e.probes.Add(1)
		return true
	}
	fd, evidence := e.prober.Load().Probe(ctx, f, take)
	if e.ctx.Err() != nil {
		// Cut short by Close: what the probes saw is not a verdict.
		e.mu.Lock()
		delete(e.pending, keyFor(f.Name, f.Qtype))
		e.wake(keyFor(f.Name, f.Qtype))
		e.mu.Unlock()
		return
	}
	evidence = capEvidence(evidence)
	fd.Name, fd.Qtype, fd.Rcode, fd.Upstream = f.Name, f.Qtype, f.Rcode, f.Upstream
	fd.UpstreamEDE = codesOf(f.EDE)
	if f.SOA != nil {
		fd.UpstreamSOA = f.SOA
	}
	res := Classify(fd)

	k := keyFor(f.Name, f.Qtype)
	e.mu.Lock()
	count := max(e.pending[k], 1)
	delete(e.pending, k)
	v := Verdict{ID: e.newID(), Name: f.Name, Qtype: qtype(f.Qtype), Rcode: rcode(f.Rcode), Cause: res.Cause,
		Summary: res.Summary, Advice: res.Advice, EDE: ownEDE(res.EDE), UpstreamEDE: upstreamEDE(f.EDE),
		Upstream: f.Upstream, FirstSeen: f.Time, LastSeen: e.cfg.Now(), Count: count,
		DurationMS: time.Since(start).Milliseconds(), Evidence: evidence, Zone: fd.Zone}
	// An NXDOMAIN verdict is about one name, whatever its cause: only a
	// flood's rate groups other names under it.
	if z := groupZone(fd); z != "" && groupsUnder(z, res.Cause) && f.Rcode != dns.RcodeNameError {
		e.rememberZone(zoneKey{zone: lower(z), rcode: v.Rcode}, keyFor(v.Name, f.Qtype), v)
	} else if z != "" && res.Cause == NXDomainConfirmed {
		e.rememberFlood(lower(z), keyFor(v.Name, f.Qtype), v)
	}
	e.store.put(v, f.Qtype) // before pending is gone, so no second diagnosis starts
	e.wake(k)
	e.mu.Unlock()
	e.publish(v)
	e.diagnosed.Add(1)
	e.cfg.Logger.Info("diagnosis", "name", v.Name, "qtype", v.Qtype, "rcode", v.Rcode, "cause", string(v.Cause),
		"summary", v.Summary, "upstream", v.Upstream, "duration_ms", v.DurationMS)
}

// maxEvidence bounds the probes a verdict lists, so that its JSON stays a
// few KiB whatever the size of the zone's NS set.
const maxEvidence = 32

// capEvidence keeps the first maxEvidence-1 rows (the upstream, the
// alternates and the walk come first) and counts the rest in a last row.
func capEvidence(ev []Evidence) []Evidence {
	if len(ev) <= maxEvidence {
		return ev
	}
	more := len(ev) - (maxEvidence - 1)
	out := append(ev[:maxEvidence-1:maxEvidence-1], Evidence{Role: "not shown",
		Query: strconv.Itoa(more) + " more probes"})
	return out
}

// groupZone is the zone a verdict speaks for: the walk's closest zone, or
// the zone below it whose SOA an authoritative negative answer carries (one
// server can serve a zone and its child with no referral between them, and
// the SOA names the zone that holds the name, RFC 2308 section 3).
// groupsUnder says whether a verdict of cause c about zone z explains the
// same failure of other names in z. Only zone-wide causes do, and never
// for the root, nor, when c is that servers did not answer, for a TLD: the
// root's and a TLD's many servers all silent is far likelier nxray's own
// network than their outage, and a verdict there would swallow every
// SERVFAIL under them for its lifetime.
func groupsUnder(z string, c Cause) bool {
	switch {
	case !zoneWide(c), z == ".":
		return false
	case c == AuthoritativeUnreachable || c == PartialAuthoritativeOutage:
		return dns.CountLabel(z) > 1
	}
	return true
}

func groupZone(fd Findings) string {
	zone := fd.Zone
	if zone == "" {
		return ""
	}
	for _, a := range fd.Auth {
		if a.AA && a.SOA != nil && dns.IsSubDomain(zone, a.SOA.Zone) {
			zone = a.SOA.Zone
		}
	}
	return zone
}

// room says m can take one more entry within size, after deleting the
// entries expired at now when it is full.
func room[K comparable, V any](m map[K]V, size int, now time.Time, expires func(V) time.Time) bool {
	if len(m) < size {
		return true
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
	return len(m) < size
}

// rememberZone records a zone-wide verdict, within StoreSize zones. Called
// with e.mu held.
func (e *Engine) rememberZone(key zoneKey, vk verdictKey, v Verdict) {
	if !room(e.zones, e.cfg.StoreSize, e.cfg.Now(), func(r zoneRecord) time.Time { return r.expires }) {
		return
	}
	e.zones[key] = zoneRecord{v: v, key: vk, expires: v.LastSeen.Add(e.cfg.StoreTTL),
		summary: "Not probed on its own: " + v.Name + " in the same zone failed the same way. " + v.Summary}
}
