package history

import (
	"context"
	"math"
	"time"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

// request is work the writer runs between batches, so that one goroutine
// alone writes: a sync, a prune.
type request struct {
	fn   func(ctx context.Context) error
	done chan error
}

// LogQuery folds q into the query log's next write (fold.go). It never
// blocks on the writer: over the cap, q is dropped and counted.
func (s *Store) LogQuery(q proxy.Query) {
	if !s.fold.add(q) {
		s.dropped.Add(1)
	}
}

// PutVerdict queues v to be written, in place of any kept verdict with
// its ID that was not last seen later. It never blocks.
func (s *Store) PutVerdict(v diagnose.Verdict) {
	select {
	case s.verdicts <- v:
	default:
		s.dropped.Add(1)
	}
}

// Sync returns once everything queued before the call is committed (or
// dropped, when history is off).
func (s *Store) Sync(ctx context.Context) error {
	return s.do(ctx, func(context.Context) error { return nil })
}

// do runs fn on the writer after it wrote what is queued.
func (s *Store) do(ctx context.Context, fn func(ctx context.Context) error) error {
	r := request{fn: fn, done: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return ErrUnavailable
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer: every FlushEvery it commits the rows folded since
// the last time in one transaction, and each verdict as it comes; it
// prunes every PruneEvery. It ends at Close, after writing
// what is still waiting.
func (s *Store) run() {
	defer s.wg.Done()
	ctx := context.Background()
	prune := time.NewTicker(s.cfg.PruneEvery)
	defer prune.Stop()
	tick := time.NewTimer(nextFlush(time.Now(), s.cfg.FlushEvery))
	defer tick.Stop()
	w := &writer{s: s}
	for {
		select {
		case <-tick.C:
			w.flushBefore(ctx, time.Now().Unix()) // the second under way stays to be folded
			tick.Reset(nextFlush(time.Now(), s.cfg.FlushEvery))
		case v := <-s.verdicts:
			w.vs = append(w.vs, v)
			w.take()
			w.write(ctx) // the verdicts only: the query log waits for its tick
			w.vs = w.vs[:0]
		case r := <-s.reqs:
			w.flush(ctx)
			r.done <- r.fn(ctx)
		case <-prune.C:
			w.flush(ctx)
			w.prune(ctx)
		case <-s.done:
			w.flush(ctx)
			return
		}
	}
}

// nextFlush is how long from now until the next write of the query log:
// a tenth of every past the next multiple of every. The write takes the
// rows of the seconds before the one under way, so that a second's rows
// go whole into one write (but for queries answered more than a tenth of
// a second after their second ended).
func nextFlush(now time.Time, every time.Duration) time.Duration {
	return now.Truncate(every).Add(every + every/10).Sub(now)
}

// writer is the state of run's goroutine.
type writer struct {
	s       *Store
	rows    []foldRow
	vs      []diagnose.Verdict
	args    []any
	nextTry time.Time // while history is off: when to try writing again
	noPause bool      // no rest between chunks (insert.go), for benchmarks
}

// flush takes all the folded rows and the queued verdicts and writes them
// in one transaction.
func (w *writer) flush(ctx context.Context) { w.flushBefore(ctx, math.MaxInt64) }

// flushBefore is flush of the rows of seconds before the Unix second sec.
func (w *writer) flushBefore(ctx context.Context, sec int64) {
	w.rows = w.s.fold.take(w.rows, sec)
	w.take()
	if len(w.rows) > 0 || len(w.vs) > 0 {
		w.write(ctx)
	}
	clear(w.rows)
	w.rows, w.vs = w.rows[:0], w.vs[:0]
}

// take moves queued verdicts into the batch without waiting.
func (w *writer) take() {
	for len(w.vs) < cap(w.s.verdicts) {
		select {
		case v := <-w.s.verdicts:
			w.vs = append(w.vs, v)
			continue
		default:
		}
		break
	}
}

// ready says whether to write now: always while history is written, and
// every RetryEvery while it is not (opening the file again if need be).
func (w *writer) ready(ctx context.Context) bool {
	s := w.s
	if !s.down() {
		return true
	}
	now := s.cfg.Now()
	if now.Before(w.nextTry) {
		return false
	}
	w.nextTry = now.Add(s.cfg.RetryEvery)
	if s.db.Load() == nil {
		if err := s.open(ctx); err != nil {
			s.fail("opening "+s.cfg.Path, err)
			return false
		}
	}
	return true
}

// write commits the batch, or drops and counts it.
func (w *writer) write(ctx context.Context) {
	s := w.s
	queries := uint64(0)
	for _, r := range w.rows {
		queries += uint64(r.n)
	}
	n := queries + uint64(len(w.vs))
	if !w.ready(ctx) {
		s.dropped.Add(n)
		return
	}
	if err := w.insert(ctx); err != nil {
		s.dropped.Add(n)
		s.fail("writing", err)
		w.nextTry = s.cfg.Now().Add(s.cfg.RetryEvery)
		return
	}
	s.written.Add(queries)
	s.recovered()
}
