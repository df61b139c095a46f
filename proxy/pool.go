package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// poolConfig is the part of Config the pool uses.
type poolConfig struct {
	upstreams      []Upstream
	strategy       string
	timeout        time.Duration
	failoverRcodes []int
	healthInterval time.Duration
	log            *slog.Logger
	mismatched     *atomic.Uint64 // counts answers dropped for a wrong ID or question
	recorder       Recorder       // may be nil
	sockets        *sockets       // shared by a Server's pools; nil: the pool's own
}

// pool sends queries to the upstreams by its strategy. Safe for concurrent
// use. It owns the health-probe goroutines; close stops and waits for them.
type pool struct {
	cfg    poolConfig
	ups    []*upstream
	ctx    context.Context // ends when the pool closes
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup // health probes
}

func newPool(cfg poolConfig) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{cfg: cfg, ctx: ctx, cancel: cancel}
	if cfg.sockets == nil {
		cfg.sockets = new(sockets)
	}
	for _, u := range cfg.upstreams {
		up := &upstream{Upstream: u, mismatched: cfg.mismatched, sockets: cfg.sockets}
		up.mx = newMux(up)
		p.ups = append(p.ups, up)
	}
	return p
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for _, u := range p.ups {
		u.closeIdle()
		u.mx.close()
	}
}

// answer is what one try at one upstream gave.
type answer struct {
	reply
	up  *upstream
	err error
}

// exchange forwards the packed query and returns the answer to give the
// client and the upstream it came from. With no usable answer, the last
// answer that asked for failover is returned; with none at all, an error
// joining every upstream's failure. No try runs past deadline, and none
// starts once ctx (the server's) is done.
func (p *pool) exchange(ctx context.Context, deadline time.Time, q []byte, id uint16, qs dns.Question) (answer, error) {
	order := p.order()
	if p.cfg.strategy == "parallel" {
		return p.race(ctx, deadline, order, q, id, qs)
	}
	return p.sequence(ctx, deadline, nil, order, q, id, qs)
}

// sequence tries the upstreams of order in turn, after first, the outcome
// of a try already made (the fast miss path's), if not nil.
func (p *pool) sequence(ctx context.Context, deadline time.Time, first *answer, order []*upstream, q []byte, id uint16, qs dns.Question) (answer, error) {
	var errs []error
	var fallback answer
	// done takes a try's outcome and says whether it is the answer.
	done := func(a answer) bool {
		switch {
		case a.err != nil:
			errs = append(errs, a.err)
		case p.final(a.reply):
			return true
		default:
			fallback = a
		}
		return false
	}
	if first != nil && done(*first) {
		return *first, nil
	}
	for _, u := range order {
		if err := ctx.Err(); err != nil || !time.Now().Before(deadline) {
			if err == nil {
				err = context.DeadlineExceeded
			}
			errs = append(errs, &upstreamError{upstream: u.String(), err: err})
			continue
		}
		if a := p.try(ctx, false, u, q, id, qs, deadline); done(a) {
			return a, nil
		}
	}
	if fallback.ok() {
		return fallback, nil
	}
	return answer{}, fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// race asks every upstream at once; the first final answer wins and the
// others are cancelled and waited for, so no goroutine outlives the query.
func (p *pool) race(ctx context.Context, deadline time.Time, order []*upstream, q []byte, id uint16, qs dns.Question) (answer, error) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan answer, len(order)) // room for all: no sender blocks
	var wg sync.WaitGroup
	defer func() {
		cancel()  // the losers stop at once...
		wg.Wait() // ...and are gone before the query returns
	}()
	for _, u := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- p.try(ctx, true, u, q, id, qs, deadline)
		}()
	}
	var errs []error
	var fallback answer
	for range order {
		a := <-results
		switch {
		case a.err != nil:
			errs = append(errs, a.err)
		case p.final(a.reply):
			return a, nil
		default:
			fallback = a
		}
	}
	if fallback.ok() {
		return fallback, nil
	}
	return answer{}, fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// try asks one upstream until the per-try timeout or deadline, whichever
// comes first, and keeps its health (health.go). watch ends the try
// as soon as ctx is done.
func (p *pool) try(ctx context.Context, watch bool, u *upstream, q []byte, id uint16, qs dns.Question, deadline time.Time) answer {
	w := p.window(deadline)
	r, err := u.exchange(ctx, watch, q, id, qs, w.end)
	return p.tried(ctx, u, w, qs, r, err)
}

// tryWindow is when one try starts and ends.
type tryWindow struct {
	start, end time.Time
	// cut: the query's deadline, not the upstream, will end this try; a
	// try left 90% of its timeout or more is the upstream's to answer.
	cut bool
}

func (p *pool) window(deadline time.Time) tryWindow {
	start := time.Now()
	end := start.Add(p.cfg.timeout)
	if deadline.Before(end) {
		end = deadline
	}
	return tryWindow{start: start, end: end, cut: deadline.Before(start.Add(p.cfg.timeout * 9 / 10))}
}

// tried records a try at u and what it gave.
func (p *pool) tried(ctx context.Context, u *upstream, w tryWindow, qs dns.Question, r reply, err error) answer {
	if p.cfg.recorder != nil {
		rcode := 0
		if err == nil {
			rcode = r.rcode()
		}
		p.cfg.recorder.Tried(u.String(), time.Since(w.start), rcode, err)
	}
	if err != nil {
		// A try cut short by the query's own deadline, a won race or
		// shutdown (which ends ctx first) says nothing about the upstream.
		if ctx.Err() == nil && !w.cut {
			p.failed(u, qs, err)
		}
		return answer{up: u, err: &upstreamError{upstream: u.String(), err: err}}
	}
	u.answered()
	return answer{reply: r, up: u}
}

// final says whether an answer goes to the client as it is, rather than
// sending nxray on to the next upstream.
func (p *pool) final(r reply) bool {
	if !slices.Contains(p.cfg.failoverRcodes, r.rcode()) {
		return true
	}
	// A validating upstream's DNSSEC failure is the truth about the name:
	// asking another resolver would only hide it. (A plain answer carries
	// no EDE.)
	return r.msg != nil && r.msg.Rcode == dns.RcodeServerFailure && hasDNSSECError(r.msg)
}

func hasDNSSECError(m *dns.Msg) bool {
	for _, e := range edeOf(m) {
		if e.InfoCode >= dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm && e.InfoCode <= dns.ExtendedErrorCodeNoZoneKeyBitSet {
			return true
		}
	}
	return false
}

func edeOf(m *dns.Msg) []dns.EDNS0_EDE {
	if m == nil {
		return nil
	}
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	var out []dns.EDNS0_EDE
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			out = append(out, *e)
		}
	}
	return out
}

// order lists the upstreams to try: those up first (in configured order,
// or shuffled for random), then those down, so that a query still has a
// chance when all are marked down. Parallel uses only those up, if any.
func (p *pool) order() []*upstream {
	if p.cfg.strategy != "random" && !p.anyDown() {
		return p.ups // the configured order; callers only read it
	}
	up := make([]*upstream, 0, len(p.ups))
	var down []*upstream
	for _, u := range p.ups {
		if u.down.Load() {
			down = append(down, u)
		} else {
			up = append(up, u)
		}
	}
	if p.cfg.strategy == "random" {
		rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	}
	if p.cfg.strategy == "parallel" && len(up) > 0 {
		return up
	}
	return append(up, down...)
}

func (p *pool) anyDown() bool {
	for _, u := range p.ups {
		if u.down.Load() {
			return true
		}
	}
	return false
}
