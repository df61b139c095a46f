package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Pool sends queries to the upstreams by its strategy. Safe for concurrent
// use. It owns the health-probe goroutines; Close stops and waits for them.
type Pool struct {
	cfg    Config
	ms     []*member
	ctx    context.Context // ends when the pool closes
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup // health probes
}

// NewPool builds a pool; nothing is dialed until a query needs it.
func NewPool(cfg Config) *Pool {
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{cfg: cfg, ctx: ctx, cancel: cancel}
	for _, u := range cfg.Upstreams {
		p.ms = append(p.ms, newMember(cfg.Context, u, cfg.Mismatched))
	}
	return p
}

// Close stops the health probes and closes the transports; tries in
// flight finish.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	for _, m := range p.ms {
		m.close()
	}
}

// State is how an upstream looks to the pool now.
type State struct {
	Upstream string
	Zone     string // the forward zone the pool serves; "" for every other name
	Down     bool   // a network failure was seen and no health probe has answered since
	Failing  bool   // a try failed since its last answer
	Probing  bool   // a health probe is in flight
}

// States lists the upstreams in configured order with their state.
func (p *Pool) States() []State {
	out := make([]State, 0, len(p.ms))
	for _, m := range p.ms {
		out = append(out, State{Upstream: m.String(), Zone: p.cfg.Zone, Down: m.down.Load(), Failing: m.failing.Load(), Probing: m.probing.Load()})
	}
	return out
}

// Answer is the reply a query gets, and the upstream it came from.
type Answer struct {
	Reply
	From string
}

// upstreamError is one upstream's failure on one try.
type upstreamError struct {
	upstream string
	err      error
}

func (e *upstreamError) Error() string { return e.upstream + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// Failures lists what each upstream's try in err, a query's error from
// Exchange, failed with: the upstream and its error, in the order tried.
func Failures(err error) (upstreams []string, errs []error) {
	var walk func(error)
	walk = func(e error) {
		var ue *upstreamError
		if errors.As(e, &ue) && e == error(ue) {
			upstreams, errs = append(upstreams, ue.upstream), append(errs, ue.err)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
		}
	}
	walk(err)
	return upstreams, errs
}

// Exchange forwards the packed query q and returns the answer to give the
// client. With no usable answer, the last answer that asked for failover
// is returned; with none at all, an error joining every upstream's
// failure, which wraps ErrNoUpstream. No try runs past deadline, and none
// starts once ctx is done. q may be given other IDs on the way.
func (p *Pool) Exchange(ctx context.Context, deadline time.Time, q []byte) (Answer, error) {
	order := p.order()
	if p.cfg.Strategy == "parallel" {
		return p.race(ctx, deadline, order, q)
	}
	return p.sequence(ctx, deadline, order, q, nil)
}

// Go forwards q as Exchange does, without waiting: done is called with the
// outcome on another goroutine. When the first upstream's transport is a
// Sender (UDP) and the strategy is not parallel, the first try goes out
// from the caller and no goroutine waits for it: an answer that is final
// and needs no retry (the common case) is handed to done by the socket's
// responder; anything else goes on on a goroutine of its own, the retries
// settle makes and the next upstreams. q must not change until done is
// called.
func (p *Pool) Go(ctx context.Context, deadline time.Time, q []byte, done func(Answer, error)) {
	order := p.order()
	m := order[0]
	snd, ok := m.first().(Sender)
	if !ok || p.cfg.Strategy == "parallel" {
		go func() { done(p.Exchange(ctx, deadline, q)) }()
		return
	}
	start := time.Now()
	end := p.end(start, deadline)
	rest := func(r Reply, err error) {
		// The retries get q to themselves: the first try's send may not
		// have let go of it as far as the race detector knows.
		q := bytes.Clone(q)
		if err == nil {
			r, err = m.settle(ctx, m.first(), q, end, r)
		}
		first := p.tried(ctx, m, start, deadline, q, r, err)
		done(p.sequence(ctx, deadline, order[1:], q, &first))
	}
	err := snd.Send(q, end, func(r Reply, err error) {
		if err == nil && !r.unsettled() && p.final(r) {
			a := p.tried(ctx, m, start, deadline, q, r, nil)
			done(a.Answer, nil)
			return
		}
		go rest(r, err)
	})
	if err != nil {
		go rest(Reply{}, err)
	}
}

// outcome is one try's.
type outcome struct {
	Answer
	err error
}

// sequence tries the upstreams of order in turn, after first, the outcome
// of a try already made, if not nil.
func (p *Pool) sequence(ctx context.Context, deadline time.Time, order []*member, q []byte, first *outcome) (Answer, error) {
	var errs []error
	var fallback Answer
	// done takes a try's outcome and says whether it is the answer.
	done := func(o outcome) bool {
		switch {
		case o.err != nil:
			errs = append(errs, o.err)
		case p.final(o.Reply):
			return true
		default:
			fallback = o.Answer
		}
		return false
	}
	if first != nil && done(*first) {
		return first.Answer, nil
	}
	for _, m := range order {
		if err := ctx.Err(); err != nil || !time.Now().Before(deadline) {
			if err == nil {
				err = context.DeadlineExceeded
			}
			errs = append(errs, &upstreamError{upstream: m.String(), err: err})
			continue
		}
		if o := p.try(ctx, m, q, deadline); done(o) {
			return o.Answer, nil
		}
	}
	if fallback.OK() {
		return fallback, nil
	}
	return Answer{}, fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// race asks every upstream at once; the first final answer wins and the
// others are cancelled and waited for, so no goroutine outlives the query.
func (p *Pool) race(ctx context.Context, deadline time.Time, order []*member, q []byte) (Answer, error) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan outcome, len(order)) // room for all: no sender blocks
	var wg sync.WaitGroup
	defer func() {
		cancel()  // the losers stop at once...
		wg.Wait() // ...and are gone before the query returns
	}()
	for _, m := range order {
		wg.Add(1)
		go func(q []byte) {
			defer wg.Done()
			results <- p.try(ctx, m, q, deadline)
		}(bytes.Clone(q)) // each transport may set its own ID
	}
	var errs []error
	var fallback Answer
	for range order {
		o := <-results
		switch {
		case o.err != nil:
			errs = append(errs, o.err)
		case p.final(o.Reply):
			return o.Answer, nil
		default:
			fallback = o.Answer
		}
	}
	if fallback.OK() {
		return fallback, nil
	}
	return Answer{}, fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// end is when a try started at start ends: after the per-try timeout, or
// at the query's deadline if that comes first.
func (p *Pool) end(start, deadline time.Time) time.Time {
	end := start.Add(p.cfg.Timeout)
	if deadline.Before(end) {
		return deadline
	}
	return end
}

// try asks one upstream until the per-try timeout or deadline, whichever
// comes first.
func (p *Pool) try(ctx context.Context, m *member, q []byte, deadline time.Time) outcome {
	start := time.Now()
	r, err := m.exchange(ctx, q, p.end(start, deadline))
	return p.tried(ctx, m, start, deadline, q, r, err)
}

// tried records a try at m, started at start, that gave r or err, and
// keeps m's health (health.go).
func (p *Pool) tried(ctx context.Context, m *member, start, deadline time.Time, q []byte, r Reply, err error) outcome {
	if p.cfg.Recorder != nil {
		rcode := 0
		if err == nil {
			rcode = r.Rcode()
		}
		p.cfg.Recorder.Tried(m.String(), time.Since(start), rcode, err)
	}
	if err != nil {
		// A try cut short by the query's own deadline (a try left less
		// than 90% of its timeout is the deadline's, not the upstream's),
		// a won race or shutdown says nothing about the upstream.
		// So does a try that waited for a connection with room: that is
		// nxray's own load.
		if ctx.Err() == nil && !deadline.Before(start.Add(p.cfg.Timeout*9/10)) && !errors.Is(err, ErrBusy) {
			p.failed(m, q, err)
		}
		return outcome{err: &upstreamError{upstream: m.String(), err: err}}
	}
	m.answered()
	return outcome{Answer: Answer{Reply: r, From: m.String()}}
}

// final says whether an answer goes to the client as it is, rather than
// sending nxray on to the next upstream.
func (p *Pool) final(r Reply) bool {
	if !slices.Contains(p.cfg.FailoverRcodes, r.Rcode()) {
		return true
	}
	// A validating upstream's DNSSEC failure is the truth about the name:
	// asking another resolver would only hide it. (A plain answer carries
	// no EDE.)
	return r.Msg != nil && r.Msg.Rcode == dns.RcodeServerFailure && hasDNSSECError(r.Msg)
}

func hasDNSSECError(m *dns.Msg) bool {
	for _, e := range EDE(m) {
		if e.InfoCode >= dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm && e.InfoCode <= dns.ExtendedErrorCodeNoZoneKeyBitSet {
			return true
		}
	}
	return false
}

// EDE lists the Extended DNS Errors of m, which may be nil.
func EDE(m *dns.Msg) []dns.EDNS0_EDE {
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
func (p *Pool) order() []*member {
	if p.cfg.Strategy != "random" && !p.anyDown() {
		return p.ms // the configured order; callers only read it
	}
	up := make([]*member, 0, len(p.ms))
	var down []*member
	for _, m := range p.ms {
		if m.down.Load() {
			down = append(down, m)
		} else {
			up = append(up, m)
		}
	}
	if p.cfg.Strategy == "random" {
		rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	}
	if p.cfg.Strategy == "parallel" && len(up) > 0 {
		return up
	}
	return append(up, down...)
}

func (p *Pool) anyDown() bool {
	for _, m := range p.ms {
		if m.down.Load() {
			return true
		}
	}
	return false
}
