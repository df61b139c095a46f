package proxy

import (
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// An upstream is marked down, and tried only after those up, when it fails
// tries for maxFails different questions in a row with no answer between
// them, or when a health probe fails. One name that times out (its
// authoritative servers are dead, so the upstream takes longer than nxray
// waits) is one question however often it is asked: it starts a health
// probe, which the upstream answers, and nothing moves. CoreDNS's forward
// plugin keeps its max_fails the same way, with a health check to confirm.
const maxFails = 3

// answered notes that u answered a try: its failures are forgiven.
func (u *upstream) answered() {
	if !u.failing.Load() {
		return // the hot path: one atomic load
	}
	u.healthMu.Lock()
	u.fails, u.lastFail = 0, ""
	u.failing.Store(false)
	u.healthMu.Unlock()
}

// failure counts a failed try at u for question qs, once per question in
// a row, and returns the count.
func (u *upstream) failure(qs dns.Question) int {
	key := strings.ToLower(qs.Name) + "/" + dns.Type(qs.Qtype).String()
	u.healthMu.Lock()
	defer u.healthMu.Unlock()
	if key != u.lastFail {
		u.fails++
		u.lastFail = key
	}
	u.failing.Store(true)
	return u.fails
}

// failed takes a try at u for qs that got no answer (not one cut short by
// the query's own deadline or shutdown): u is marked down at maxFails,
// and probed at once before that.
func (p *pool) failed(u *upstream, qs dns.Question, err error) {
	if u.failure(qs) >= maxFails {
		p.markDown(u, "tries for "+strconv.Itoa(maxFails)+" different names failed, the last: "+err.Error())
		return
	}
	p.startProbe(u)
}

// markDown takes u out of the first rank and makes sure its health probe
// runs, which marks it up again when it answers.
func (p *pool) markDown(u *upstream, why string) {
	if !u.down.Swap(true) {
		p.cfg.log.Warn("upstream down", "upstream", u.String(), "error", why)
	}
	p.startProbe(u)
}

// startProbe starts u's health probe, unless one runs or the pool closed.
func (p *pool) startProbe(u *upstream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !u.probing.CompareAndSwap(false, true) {
		return
	}
	p.wg.Add(1)
	go p.probe(u)
}

// probe asks u a question any resolver answers (the root's NS set): at once
// if u is up (a try just failed: was it u, or that question?), then every
// health interval while it does not answer, and marks it down meanwhile.
// Any answer, with any rcode, marks it up and ends the probe.
func (p *pool) probe(u *upstream) {
	defer p.wg.Done()
	defer u.probing.Store(false)
	q := new(dns.Msg).SetQuestion(".", dns.TypeNS)
	t := time.NewTicker(p.cfg.healthInterval)
	defer t.Stop()
	for now := !u.down.Load(); ; now = false {
		if !now {
			select {
			case <-p.ctx.Done():
				return
			case <-t.C:
			}
		}
		q.Id = dns.Id()
		wire, err := q.Pack()
		if err != nil {
			return
		}
		_, err = u.exchange(p.ctx, true, wire, q.Id, q.Question[0], time.Now().Add(p.cfg.timeout))
		if p.ctx.Err() != nil {
			return
		}
		if err == nil {
			u.answered()
			if u.down.Swap(false) {
				p.cfg.log.Info("upstream up", "upstream", u.String())
			}
			return
		}
		p.markDown(u, "health probe: "+err.Error())
	}
}
