package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nxray/nxray/internal/status"
)

// maxBuckets bounds the buckets one Failures call counts.
const maxBuckets = 10000

// Failures counts the failed queries from since to now in buckets of
// step, by the cause of the verdict each is linked to, and by client.
func (s *Store) Failures(ctx context.Context, since time.Time, step time.Duration) (status.FailureCounts, error) {
	now := s.cfg.Now()
	if step <= 0 || !since.Before(now) {
		return status.FailureCounts{}, fmt.Errorf("%w: a span from the past to now, in steps longer than 0", status.ErrBadFilter)
	}
	buckets := int((now.Sub(since) + step - 1) / step)
	if buckets > maxBuckets {
		return status.FailureCounts{}, fmt.Errorf("%w: %d buckets, at most %d", status.ErrBadFilter, buckets, maxBuckets)
	}
	db, err := s.conn()
	if err != nil {
		return status.FailureCounts{}, err
	}
	l, err := s.newLinker(ctx, db, since.UnixNano(), now.UnixNano())
	if err != nil {
		return status.FailureCounts{}, err
	}
	fc := status.FailureCounts{Start: since, Step: step, Cause: map[string][]int{}, Client: map[string]int{}}
	// The condition is the partial index's, so that successes are not read.
	rows, err := db.QueryContext(ctx, `SELECT t, client, name, qtype, rcode, n FROM queries
		WHERE rcode IN (2, 3, 5) AND t >= ? AND t <= ?`, since.UnixNano(), now.UnixNano())
	if err != nil {
		return status.FailureCounts{}, wrap("counting failures", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k linkKey
		var client string
		var qtype, n int64
		if err := rows.Scan(&k.t, &client, &k.name, &qtype, &k.rcode, &n); err != nil {
			return status.FailureCounts{}, wrap("counting failures", err)
		}
		k.qtype = uint16(qtype)
		cause := ""
		if v, ok := l.link(k); ok {
			cause = v.cause
		}
		b := int((k.t - since.UnixNano()) / int64(step))
		if fc.Cause[cause] == nil {
			fc.Cause[cause] = make([]int, buckets)
		}
		fc.Cause[cause][min(b, buckets-1)] += int(n)
		fc.Client[client] += int(n)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return status.FailureCounts{}, wrap("counting failures", err)
	}
	return fc, ctx.Err()
}
