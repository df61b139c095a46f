package diagnose

import (
	"hash/maphash"
	"time"

	"github.com/miekg/dns"
)

// A random-subdomain flood (many names that do not exist under one zone,
// each asked once) must not cost a diagnosis per name, nor push every
// other verdict out of the store. But "does not exist" is a property of
// one name, not of its zone: a blocked name or a stale denial in the same
// zone is another cause. So a zone's NXDOMAIN verdict stands for other
// names only while they come at a flood's rate, and even then a name
// asked a second time, and one name a second, are diagnosed on their own.
const (
	floodNames  = 10               // failing names under one zone ...
	floodWindow = 10 * time.Second // ... within this long make a flood
	floodSample = time.Second      // during one, a name a second is still diagnosed
	floodSlots  = 1024             // the names of a flood remembered to catch repeats
)

// floodRecord is a zone's latest nxdomain_confirmed verdict and the rate of
// failing names under the zone.
type floodRecord struct {
	v       Verdict
	key     verdictKey
	expires time.Time
	summary string

	windowStart time.Time
	names       int       // failing names since windowStart
	until       time.Time // a flood while before this
	sampled     time.Time // when the last name was let through
	seen        *[floodSlots]uint64
}

// rememberFlood records a zone's nxdomain_confirmed verdict, within
// StoreSize zones. Called with e.mu held.
func (e *Engine) rememberFlood(zone string, vk verdictKey, v Verdict) {
	if fl, ok := e.floods[zone]; ok {
		if v.LastSeen.Before(fl.expires) {
			// The verdict a flood is counted onto stays while it lives.
			fl.expires = v.LastSeen.Add(e.cfg.StoreTTL)
			return
		}
		fl.v, fl.key, fl.expires = v, vk, v.LastSeen.Add(e.cfg.StoreTTL)
		fl.summary = floodSummary(v)
		return
	}
	if !room(e.floods, e.cfg.StoreSize, e.cfg.Now(), func(fl *floodRecord) time.Time { return fl.expires }) {
		return
	}
	e.floods[zone] = &floodRecord{v: v, key: vk, expires: v.LastSeen.Add(e.cfg.StoreTTL), summary: floodSummary(v)}
}

func floodSummary(v Verdict) string {
	return "Not probed on its own: one of many names under " + v.Zone + " that failed within seconds, " +
		"like " + v.Name + ". " + v.Summary
}

// floodFor finds the live flood record of a zone above name, lowercased
// and fully qualified. Called with e.mu held.
func (e *Engine) floodFor(name string, at time.Time) *floodRecord {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if fl, ok := e.floods[name[off:]]; ok && at.Before(fl.expires) {
			return fl
		}
	}
	return nil
}

// groups says whether a failure of name (key k) at at is counted onto the
// flood's verdict instead of diagnosed: only during a flood, and never for
// a name seen before in it nor for the one sampled this second. Called
// with e.mu held.
func (fl *floodRecord) groups(seed maphash.Seed, k verdictKey, at time.Time) bool {
	if at.Sub(fl.windowStart) > floodWindow || at.Before(fl.windowStart) {
		fl.windowStart, fl.names = at, 0
	}
	fl.names++
	if fl.names >= floodNames {
		fl.until = at.Add(floodWindow)
	}
	if !at.Before(fl.until) {
		return false
	}
	if fl.seen == nil {
		fl.seen = new([floodSlots]uint64)
	}
	h := fingerprint(seed, k)
	slot := &fl.seen[h%floodSlots]
	if *slot == h {
		return false // asked again: not a flood's throwaway name
	}
	*slot = h
	if at.Sub(fl.sampled) >= floodSample {
		fl.sampled = at
		return false
	}
	return true
}

// flooding says whether the zone's failures are being grouped now.
func (fl *floodRecord) flooding(at time.Time) bool { return at.Before(fl.until) }

func fingerprint(seed maphash.Seed, k verdictKey) uint64 {
	return (maphash.String(seed, k.name) ^ uint64(k.qtype)) | 1 // never the empty slot's zero
}

// saw says the flood counted a failure of k (an annotation for a name the
// flood never saw would speak for a name it knows nothing of).
func (fl *floodRecord) saw(seed maphash.Seed, k verdictKey) bool {
	h := fingerprint(seed, k)
	return fl.seen != nil && fl.seen[h%floodSlots] == h
}
