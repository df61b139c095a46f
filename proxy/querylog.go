package proxy

import (
	"net/netip"
	"time"
)

// Query is one answered query as the query log keeps it.
type Query struct {
	Time   time.Time // when it was read
	Client netip.Addr
	// Name is as the client sent it. It is valid during LogQuery only (it
	// may point into a reader's buffer): a log that keeps it copies it.
	Name     string
	Qtype    uint16
	Rcode    int // what the client got
	Cached   bool
	Upstream string // empty for the cache and nxray's own answers
	Duration time.Duration
}

// QueryLog receives every answered query, once, just before the answer is
// written. LogQuery is called on the query path from many goroutines at
// once: it must return at once and never block (drop rather than wait),
// and copy the name if it keeps it.
type QueryLog interface {
	LogQuery(Query)
}

// logQuery tells the query log of q, answered with rcode after d.
func (s *Server) logQuery(q *query, rcode int, cached bool, upstream string, d time.Duration) {
	qs := q.questionOf(false) // the log copies the name if it keeps it
	s.cfg.QueryLog.LogQuery(Query{Time: q.start, Client: q.client, Name: qs.Name, Qtype: qs.Qtype,
		Rcode: rcode, Cached: cached, Upstream: upstream, Duration: d})
}
