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
// cause and "nxray: <cause>: <summary>". It never blocks. A verdict made
// when no upstream answered stands for the SERVFAIL nxray then gave.
func (e *Engine) Annotation(name string, qtype uint16, rc int) (uint16, string, bool) {
	v, ok := e.store.get(name, qtype)
	if !ok || v.AttachEDE < 0 {
		return 0, "", false
	}
	if v.Rcode != rcode(rc) && !(v.Rcode == rcode(NoAnswer) && rc == dns.RcodeServerFailure) {
		return 0, "", false
	}
	return uint16(v.AttachEDE), "nxray: " + string(v.Cause) + ": " + v.Summary, true
}

// Wait is Annotation that waits until a verdict for name and type is
// stored or ctx ends.
func (e *Engine) Wait(ctx context.Context, name string, qtype uint16, rc int) (uint16, string, bool) {
	k := keyFor(name, qtype)
	for {
		e.mu.Lock() // verdicts are stored under e.mu: none can slip in between
		if code, text, ok := e.Annotation(name, qtype, rc); ok {
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
