package history

import (
	"context"
	"database/sql"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// Engine is what Follow reads of the diagnosis engine; *diagnose.Engine
// has it.
type Engine interface {
	Verdicts() []diagnose.Verdict
	Subscribe() (<-chan diagnose.Verdict, func())
}

var _ Engine = (*diagnose.Engine)(nil)

// Follow keeps the engine's verdicts on disk until ctx ends: each new
// verdict at once, and every `every` the live verdicts whose count moved
// since (the engine counts later failures onto a verdict without telling
// its subscribers). It writes the moved ones once more before it returns.
func (s *Store) Follow(ctx context.Context, e Engine, every time.Duration) {
	ch, unsubscribe := e.Subscribe()
	defer unsubscribe()
	t := time.NewTicker(every)
	defer t.Stop()
	seen := map[string]int{} // count written, by ID, of the verdicts live at the last sync
	for {
		select {
		case v := <-ch:
			s.PutVerdict(v)
			seen[v.ID] = v.Count
		case <-t.C:
			seen = s.syncLive(e, seen)
		case <-ctx.Done():
			s.syncLive(e, seen)
			return
		}
	}
}

// syncLive writes the live verdicts whose count is not the one written,
// and returns the counts written of those live now.
func (s *Store) syncLive(e Engine, seen map[string]int) map[string]int {
	live := e.Verdicts()
	next := make(map[string]int, len(live))
	for _, v := range live {
		if c, ok := seen[v.ID]; !ok || c != v.Count {
			s.PutVerdict(v)
		}
		next[v.ID] = v.Count
	}
	return next
}

// Recent returns the kept verdicts last seen within ttl of now, newest
// first, at most limit: those the engine would still hold live had it not
// restarted. lastSeq is the highest verdict number ever kept, so that the
// engine's new IDs follow it.
func (s *Store) Recent(ctx context.Context, ttl time.Duration, limit int) (vs []diagnose.Verdict, lastSeq uint64, err error) {
	db, err := s.conn()
	if err != nil {
		return nil, 0, err
	}
	var seq sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MAX(seq) FROM verdicts").Scan(&seq); err != nil {
		return nil, 0, wrap("reading verdicts", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT body FROM verdicts WHERE last_seen >= ? ORDER BY last_seen DESC LIMIT ?",
		s.cfg.Now().Add(-ttl).UnixNano(), limit)
	if err != nil {
		return nil, 0, wrap("reading verdicts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, 0, wrap("reading verdicts", err)
		}
		v, err := verdictOf(body)
		if err != nil {
			continue // one bad row does not keep the rest from coming back
		}
		vs = append(vs, v)
	}
	return vs, uint64(max(seq.Int64, 0)), wrap2("reading verdicts", rows.Err())
}

func wrap2(doing string, err error) error {
	if err == nil {
		return nil
	}
	return wrap(doing, err)
}
