package diagnose

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

// Failure is a failed answer to explain; internal/adapt makes one from each
// of the proxy's.
type Failure struct {
	Time     time.Time
	Name     string
	Qtype    uint16
	Rcode    int // NoAnswer when no upstream answered
	Upstream string
	EDE      []EDE // the Extended DNS Errors of the upstream's answer
	SOA      *SOA  // the SOA of the upstream's negative answer
}

// Prober gathers the findings about one failure. The engine calls Probe
// from several workers at once. Probe must return soon after ctx ends, and
// must call take before every query it sends, sending none once take
// returns false: the diagnosis's probe budget is spent, or ctx ended while
// waiting for the global probe rate.
type Prober interface {
	Probe(ctx context.Context, f Failure, take func() bool) (Findings, []Evidence)
}

// Config sizes the engine. Zero values take the defaults in brackets.
type Config struct {
	Prober      Prober        // required
	Workers     int           // diagnoses at once [4]
	QueueSize   int           // failures waiting; beyond it they are dropped and counted [256]
	StoreSize   int           // verdicts kept [1000]
	StoreTTL    time.Duration // a verdict lives this long after it was last seen [10m]
	ProbeRate   float64       // probes per second, all diagnoses together [100]
	ProbeBurst  int           // [20]
	ProbeBudget int           // probes one diagnosis may send [64]
	Timeout     time.Duration // one diagnosis, all its probes [10s]
	Logger      *slog.Logger  // [discard]
	Now         func() time.Time
}

// Stats counts what the engine did with the failures it was handed.
type Stats struct {
	Observed     uint64 // failures handed in
	Deduplicated uint64 // counted on a verdict or diagnosis already there
	Grouped      uint64 // answered by a verdict for the same zone and rcode
	Dropped      uint64 // the queue was full
	Diagnosed    uint64 // verdicts made
	Probes       uint64 // probes sent
}

// Engine explains failures in the background. Observe never blocks; a
// fixed set of workers diagnoses what the bounded queue holds. Close stops
// the workers and waits for them.
type Engine struct {
	cfg     Config
	prober  atomic.Pointer[proberBox] // swapped by SetProber
	queue   chan Failure
	store   *store
	limiter *rate.Limiter
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex         // guards pending, zones, floods, waiters, and every store.put
	pending map[verdictKey]int // failures counted onto a diagnosis under way
	zones   map[zoneKey]zoneRecord
	floods  map[string]*floodRecord // by zone: its NXDOMAIN verdict and failure rate
	waiters map[verdictKey]*waiter
	seed    maphash.Seed

	observed, deduplicated, grouped, dropped, diagnosed, probes atomic.Uint64
	nextID                                                      atomic.Uint64

	subMu sync.Mutex // guards subs
	subs  map[chan Verdict]struct{}
}

type proberBox struct{ Prober }

// SetProber replaces the prober for diagnoses that start from now on, as
// after a configuration reload. Safe to call at any time.
func (e *Engine) SetProber(p Prober) {
	if p != nil {
		e.prober.Store(&proberBox{p})
	}
}

// zoneRecord is the latest verdict of a zone-wide cause, so that a flood of
// names under one zone becomes one diagnosis, not one walk per name.
type zoneRecord struct {
	v       Verdict
	key     verdictKey // v's in the store, where grouped failures are counted
	expires time.Time
	summary string // for the annotations of the names grouped under it, made once
}

// zoneKey is a lowercased zone and an rcode.
type zoneKey struct{ zone, rcode string }

// New starts an engine with cfg.Workers workers.
func New(cfg Config) (*Engine, error) {
	if cfg.Prober == nil {
		return nil, errors.New("diagnose: no prober")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Workers, 4)
	def(&cfg.QueueSize, 256)
	def(&cfg.StoreSize, 1000)
	def(&cfg.ProbeBurst, 20)
	def(&cfg.ProbeBudget, 64)
	if cfg.StoreTTL <= 0 {
		cfg.StoreTTL = 10 * time.Minute
	}
	if cfg.ProbeRate <= 0 {
		cfg.ProbeRate = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := newStore(cfg.StoreSize, cfg.StoreTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{cfg: cfg, queue: make(chan Failure, cfg.QueueSize), store: st,
		limiter: rate.NewLimiter(rate.Limit(cfg.ProbeRate), cfg.ProbeBurst),
		ctx:     ctx, cancel: cancel, pending: map[verdictKey]int{}, zones: map[zoneKey]zoneRecord{},
		floods: map[string]*floodRecord{}, seed: maphash.MakeSeed(),
		waiters: map[verdictKey]*waiter{}, subs: map[chan Verdict]struct{}{}}
	e.prober.Store(&proberBox{cfg.Prober})
	for range cfg.Workers {
		e.wg.Add(1)
		go e.work()
	}
	return e, nil
}

// Close cancels the diagnoses under way and waits for the workers.
func (e *Engine) Close() {
	e.cancel()
	e.wg.Wait()
}

// Observe hands a failure to the engine. It never blocks: a failure already
// being explained is counted onto that, and a full queue drops it.
func (e *Engine) Observe(f Failure) {
	e.observed.Add(1)
	if f.Time.IsZero() {
		f.Time = e.cfg.Now()
	}
	k, rc := keyFor(f.Name, f.Qtype), rcode(f.Rcode) // the name lowercased once
	adds := e.store.adds.Load()
	hit, revivable := e.store.seen(k, rc, f.Time)
	if hit {
		e.deduplicated.Add(1)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Again under e.mu if a verdict was stored since the look above (a
	// diagnosis may have stored this one, and left pending) or the one
	// found may have been extended since.
	if revivable || e.store.adds.Load() != adds {
		hit, _ = e.store.seen(k, rc, f.Time)
	}
	if hit {
		e.deduplicated.Add(1)
		return
	}
	if _, ok := e.pending[k]; ok {
		e.pending[k]++
		e.deduplicated.Add(1)
		return
	}
	if r, ok := e.zoneFor(k.name, rc, f.Time); ok {
		// Counted onto the zone's verdict, not stored as one of its own:
		// a flood of random names must not push every other verdict out.
		e.store.group(r.key, r.v, f.Name, k.name == r.key.name, f.Time)
		e.wake(k)
		e.grouped.Add(1)
		return
	}
	if f.Rcode == dns.RcodeNameError && f.SOA != nil {
		// Only names denied by the same zone: not a name under another
		// zone below it, nor one a resolver made up (no SOA).
		if fl := e.floods[lower(f.SOA.Zone)]; fl != nil && f.Time.Before(fl.expires) && fl.groups(e.seed, k, f.Time) {
			e.store.group(fl.key, fl.v, f.Name, k.name == fl.key.name, f.Time)
			e.wake(k)
			e.grouped.Add(1)
			return
		}
	}
	select {
	case e.queue <- f:
		e.pending[k] = 1
	default:
		e.dropped.Add(1)
	}
}

// zoneFor finds a live zone-wide verdict with this rcode for a zone above
// name, lowercased and fully qualified. Called with e.mu held.
func (e *Engine) zoneFor(name, rc string, at time.Time) (zoneRecord, bool) {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if r, ok := e.zones[zoneKey{zone: name[off:], rcode: rc}]; ok && at.Before(r.expires) {
			return r, true
		}
	}
	return zoneRecord{}, false
}

// zoneWide causes are properties of the zone, so they explain the same
// failure of any name in it; the others are about one name (or about the
// upstream, for which a zone says nothing).
func zoneWide(c Cause) bool {
	switch c {
	case DNSSECBogus, DNSSECExpired, LameDelegation, AuthoritativeUnreachable, AuthoritativeInconsistent,
		PartialAuthoritativeOutage:
		return true
	}
	return false
}

// Get returns the live verdict with this ID.
func (e *Engine) Get(id string) (Verdict, bool) { return e.store.byID(id) }

// Subscribe returns a channel that receives every new verdict, and a
// function that ends the subscription. A subscriber that does not keep up
// misses verdicts rather than slowing the engine.
func (e *Engine) Subscribe() (<-chan Verdict, func()) {
	ch := make(chan Verdict, 16)
	e.subMu.Lock()
	e.subs[ch] = struct{}{}
	e.subMu.Unlock()
	return ch, func() {
		e.subMu.Lock()
		delete(e.subs, ch)
		e.subMu.Unlock()
	}
}

// publish hands v to every subscriber that has room.
func (e *Engine) publish(v Verdict) {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- v:
		default:
		}
	}
}

// newID names a verdict: short, unique for the engine's life.
func (e *Engine) newID() string { return strconv.FormatUint(e.nextID.Add(1), 36) }

// Lookup returns the live verdict for a name and type.
func (e *Engine) Lookup(name string, qtype uint16) (Verdict, bool) { return e.store.get(name, qtype) }

// Verdicts returns the live verdicts, newest first.
func (e *Engine) Verdicts() []Verdict { return e.store.all() }

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Observed: e.observed.Load(), Deduplicated: e.deduplicated.Load(), Grouped: e.grouped.Load(),
		Dropped: e.dropped.Load(), Diagnosed: e.diagnosed.Load(), Probes: e.probes.Load()}
}

func (e *Engine) work() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case f := <-e.queue:
			e.diagnose(f)
		}
	}
}
