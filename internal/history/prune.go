package history

import (
	"context"
	"database/sql"
)

// pruneChunk bounds the rows one pruning transaction deletes, so that the
// writer goes back to its queue between them.
const pruneChunk = 20000

// prune deletes the queries and verdicts older than Retention and the
// oldest queries beyond MaxQueries, a chunk at a time, writing what is
// queued between chunks. Run on the writer only.
func (w *writer) prune(ctx context.Context) {
	s := w.s
	db := s.db.Load()
	if db == nil || s.down() {
		return
	}
	cutoff := s.cfg.Now().Add(-s.cfg.Retention).UnixNano()
	for {
		n, err := w.pruneOnce(ctx, db, cutoff)
		if err != nil {
			s.fail("pruning", err)
			return
		}
		if n < pruneChunk {
			return
		}
		w.flush(ctx)
	}
}

// pruneOnce deletes up to pruneChunk queries (by age, then by count), and
// the verdicts last seen before cutoff; n is how many queries went.
func (w *writer) pruneOnce(ctx context.Context, db *sql.DB, cutoff int64) (n int64, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// Rows are deleted from the oldest up (by age, a query that took long
	// may go a little before one read later), so IDs have next to no gaps:
	// there are about max-min+1 of them.
	var lo, hi sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM queries").Scan(&lo, &hi); err != nil {
		return 0, err
	}
	if !lo.Valid {
		_, err := tx.ExecContext(ctx, "DELETE FROM verdicts WHERE last_seen < ?", cutoff)
		return 0, commit(tx, err)
	}
	end := min(lo.Int64+pruneChunk, hi.Int64-int64(w.s.cfg.MaxQueries)+1) // by count: below end
	res, err := tx.ExecContext(ctx, "DELETE FROM queries WHERE id < ?", end)
	if err != nil {
		return 0, err
	}
	byCount, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, "DELETE FROM queries WHERE id IN (SELECT id FROM queries WHERE t < ? LIMIT ?)",
		cutoff, pruneChunk-byCount)
	if err != nil {
		return 0, err
	}
	byAge, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, "DELETE FROM verdicts WHERE last_seen < ?", cutoff); err != nil {
		return 0, err
	}
	return byCount + byAge, commit(tx, nil)
}

func commit(tx *sql.Tx, err error) error {
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Prune runs one pruning now, as the writer does every PruneEvery.
func (s *Store) Prune(ctx context.Context) error {
	return s.do(ctx, func(ctx context.Context) error {
		(&writer{s: s}).prune(ctx)
		return nil
	})
}
