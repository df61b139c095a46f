package upstream

import (
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
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
func (u *member) answered() {
	if !u.failing.Load() {
		return // the hot path: one atomic load
	}
	u.healthMu.Lock()
	u.fails, u.lastFail = 0, ""
	u.failing.Store(false)
	u.healthMu.Unlock()
}

// failure counts a failed try at u for the packed query q, once per
// question in a row, and returns the count.
func (u *member) failure(q []byte) int {
	key := questionKey(q)
	u.healthMu.Lock()
	defer u.healthMu.Unlock()
	if key != u.lastFail {
		u.fails++
		u.lastFail = key
	}
	u.failing.Store(true)
	return u.fails
}

// failed takes a try at u for the packed query q that got no answer (not one cut short by
// the query's own deadline or shutdown): u is marked down at maxFails,
// and probed at once before that.
func (p *Pool) failed(u *member, q []byte, err error) {
	if u.failure(q) >= maxFails {
		p.markDown(u, "tries for "+strconv.Itoa(maxFails)+" different names failed, the last: "+err.Error())
		return
	}
	p.startProbe(u)
}

// markDown takes u out of the first rank and makes sure its health probe
// runs, which marks it up again when it answers.
func (p *Pool) markDown(u *member, why string) {
	if !u.down.Swap(true) {
		p.cfg.Log.Warn("upstream down", "upstream", u.String(), "error", why)
	}
	p.startProbe(u)
}

// startProbe starts u's health probe, unless one runs or the pool closed.
func (p *Pool) startProbe(u *member) {
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
func (p *Pool) probe(u *member) {
	defer p.wg.Done()
	defer u.probing.Store(false)
	q := new(dns.Msg).SetQuestion(".", dns.TypeNS)
	t := time.NewTicker(p.cfg.HealthInterval)
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
		_, err = u.exchange(p.ctx, wire, time.Now().Add(p.cfg.Timeout))
		if p.ctx.Err() != nil {
			return
		}
		if err == nil {
			u.answered()
			if u.down.Swap(false) {
				p.cfg.Log.Info("upstream up", "upstream", u.String())
			}
			return
		}
		p.markDown(u, "health probe: "+err.Error())
	}
}

// questionKey is the question of the packed query q, lowercased: one key
// per name, type and class.
func questionKey(q []byte) string {
	end, err := dnscache.SkipName(q, dnscache.HeaderLen)
	if err != nil || end+4 > len(q) {
		return string(q[min(len(q), dnscache.HeaderLen):])
	}
	return strings.ToLower(string(q[dnscache.HeaderLen:end])) + string(q[end:end+4])
}
