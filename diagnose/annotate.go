package diagnose

import (
	"context"

	"github.com/miekg/dns"
)

// waiter is a channel closed when a verdict for its key is stored, and how
// many Wait calls hold it.
type waiter struct {
	ch chan struct{}
	n  int
}

// Annotation returns the Extended DNS Error to attach to a failing answer
// for name and type with the given rcode: the INFO-CODE of the verdict's
// cause and "nxray: <cause>: <summary>". A name grouped under its zone's
// verdict gets that verdict's, saying it was not probed on its own. It
// never blocks for long. A verdict made when no upstream answered stands
// for the SERVFAIL nxray then gave.
func (e *Engine) Annotation(name string, qtype uint16, rc int) (uint16, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.annotation(name, qtype, rc)
}

// annotation is Annotation with e.mu held.
func (e *Engine) annotation(name string, qtype uint16, rc int) (uint16, string, bool) {
	if v, ok := e.store.get(name, qtype); ok && matchesRcode(v.Rcode, rc) {
		return annotationOf(v, v.Summary)
	}
	if _, ok := e.pending[keyFor(name, qtype)]; ok {
		return 0, "", false // probed on its own: its verdict will say
	}
	now := e.cfg.Now()
	lname := lower(name)
	r, ok := e.zoneFor(lname, rcode(rc), now)
	if !ok && rc == dns.RcodeServerFailure {
		r, ok = e.zoneFor(lname, rcode(NoAnswer), now)
	}
	if ok {
		return annotationOf(r.v, r.summary)
	}
	if rc == dns.RcodeNameError {
		if fl := e.floodFor(lname, now); fl != nil && fl.flooding(now) && fl.saw(e.seed, verdictKey{name: lname, qtype: qtype}) {
			return annotationOf(fl.v, fl.summary)
		}
	}
	return 0, "", false
}

func matchesRcode(verdict string, rc int) bool {
	return verdict == rcode(rc) || (verdict == rcode(NoAnswer) && rc == dns.RcodeServerFailure)
}

func annotationOf(v Verdict, summary string) (uint16, string, bool) {
	if len(v.EDE) == 0 {
		return 0, "", false
	}
	return v.EDE[0], "nxray: " + string(v.Cause) + ": " + summary, true
}

// Wait is Annotation that waits until a verdict for name and type is
// stored or ctx ends.
func (e *Engine) Wait(ctx context.Context, name string, qtype uint16, rc int) (uint16, string, bool) {
	k := keyFor(name, qtype)
	for {
		e.mu.Lock() // verdicts are stored under e.mu: none can slip in between
		if code, text, ok := e.annotation(name, qtype, rc); ok {
			e.mu.Unlock()
			return code, text, true
		}
		w := e.waiters[k]
		if w == nil {
			w = &waiter{ch: make(chan struct{})}
			e.waiters[k] = w
		}
		w.n++
		e.mu.Unlock()
		select {
		case <-w.ch:
			// A verdict was stored: look again (it may carry no EDE).
			if code, text, ok := e.Annotation(name, qtype, rc); ok {
				return code, text, true
			}
			return 0, "", false
		case <-ctx.Done():
			e.mu.Lock()
			if w.n--; w.n == 0 && e.waiters[k] == w {
				delete(e.waiters, k)
			}
			e.mu.Unlock()
			return 0, "", false
		}
	}
}

// wake releases the waiters for k. Called with e.mu held.
func (e *Engine) wake(k verdictKey) {
	if w := e.waiters[k]; w != nil {
		close(w.ch)
		delete(e.waiters, k)
	}
}
