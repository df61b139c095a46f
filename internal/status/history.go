package status

import (
	"context"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// History is the durable record the page and the API read beyond the live
// verdicts: the query log and every verdict kept on disk (package
// internal/history implements it). Config.History may be nil: the page and
// the API then show live verdicts only, and /api/v1/queries answers 503.
type History interface {
	// Queries returns logged queries matching f, newest first, and the
	// cursor of the next page ("" when there is none).
	Queries(ctx context.Context, f QueryFilter) ([]QueryRecord, string, error)
	// Verdicts returns verdicts kept on disk matching f, newest first (by
	// last seen), and the cursor of the next page.
	Verdicts(ctx context.Context, f VerdictFilter) ([]diagnose.Verdict, string, error)
	// Verdict returns one kept verdict by ID.
	Verdict(ctx context.Context, id string) (diagnose.Verdict, bool, error)
	// Failures counts the failed queries (NXDOMAIN, SERVFAIL, REFUSED and
	// nxray's own failures) from since to now: per cause of the verdict
	// each was linked to ("" when none), in buckets of step, and per client.
	Failures(ctx context.Context, since time.Time, step time.Duration) (FailureCounts, error)
	// Health says whether history is being written; when it is not, reason
	// says why in a sentence for the page ("disk full: ...").
	Health() (ok bool, reason string)
}

// QueryRecord is one query as the query log keeps it.
type QueryRecord struct {
	Time       time.Time `json:"time"`
	Client     string    `json:"client"` // IP, without port
	Name       string    `json:"name"`
	Qtype      string    `json:"qtype"`
	Rcode      string    `json:"rcode"`
	Cached     bool      `json:"cached"`
	Upstream   string    `json:"upstream,omitempty"`
	DurationMS float64   `json:"duration_ms"` // the longest of Count
	// Count is how many queries alike in all but time and duration this
	// row stands for, asked within a second from Time to Last.
	Count       int       `json:"count"`
	Last        time.Time `json:"last,omitzero"` // zero when Count is 1
	DiagnosisID string    `json:"diagnosis_id,omitempty"`
}

// QueryFilter selects queries; zero fields select everything.
type QueryFilter struct {
	Name   string // exact name, case-insensitive, with or without the final dot
	Client string // exact client IP
	Rcode  string // NOERROR, NXDOMAIN, ...
	Since  time.Time
	Until  time.Time
	Limit  int    // 0 means 100; at most 1000
	Cursor string // from a previous page
}

// VerdictFilter selects kept verdicts by when they were last seen.
type VerdictFilter struct {
	Since  time.Time
	Until  time.Time
	Limit  int // 0 means 100; at most 1000
	Cursor string
}

// FailureCounts is what the timeline and the per-client table draw.
type FailureCounts struct {
	Start time.Time        // the first bucket's start
	Step  time.Duration    // each bucket's length
	Cause map[string][]int // failures per bucket, by cause ("" unlinked)
	// Client counts failures by client IP over the whole span.
	Client map[string]int
}
