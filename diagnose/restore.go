package diagnose

import (
	"strconv"

	"github.com/miekg/dns"
)

// Restore puts verdicts kept from an earlier run (on disk) back among the
// live ones, so that annotations and the page go on where they were: each
// one LastSeen less than StoreTTL ago, unless a live verdict for its name
// and type is already there. New verdicts get IDs above lastSeq and above
// every restored verdict's (IDs are a counter in base 36), so that no ID
// names two verdicts. It returns how many came back. Zone grouping starts
// afresh: a restored verdict explains its own name only.
func (e *Engine) Restore(vs []Verdict, lastSeq uint64) int {
	for _, v := range vs {
		if n, err := strconv.ParseUint(v.ID, 36, 63); err == nil {
			lastSeq = max(lastSeq, n)
		}
	}
	for {
		cur := e.nextID.Load()
		if cur >= lastSeq || e.nextID.CompareAndSwap(cur, lastSeq) {
			break
		}
	}
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	n := 0
	for i := len(vs) - 1; i >= 0; i-- { // oldest first: the newest ends most recently used
		v := vs[i]
		qt, ok := dns.StringToType[v.Qtype]
		expires := v.LastSeen.Add(e.cfg.StoreTTL)
		if !ok || v.ID == "" || !now.Before(expires) {
			continue
		}
		k := keyFor(v.Name, qt)
		if old, ok := e.store.lru.Peek(k); ok && now.Before(old.expires) {
			continue
		}
		e.store.add(k, &stored{v: v, expires: expires})
		n++
	}
	return n
}
