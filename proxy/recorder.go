package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// Recorder is told of every answer sent and every try at an upstream, for
// metrics. It is called on the query path from many goroutines at once: it
// must be quick, never block, and allocate nothing once warm.
type Recorder interface {
	// Answered: an answer of rcode is about to go to a client over proto
	// ("udp" or "tcp"). read is when its query was read (Config.Now), so
	// that the recorder need not read a clock of its own; d is the time
	// since: all of the query's time but the write itself, which comes
	// after, so that whoever sees the answer finds it counted.
	Answered(proto string, rcode int, cached bool, read time.Time, d time.Duration)
	// Tried: one try at upstream took d; err is nil when it answered, and
	// rcode is then the answer's.
	Tried(upstream string, d time.Duration, rcode int, err error)
}

// UpstreamState is how an upstream looks to the pool now.
type UpstreamState struct {
	Upstream string
	Down     bool // a network failure was seen and no health probe has answered since
}

// Upstreams lists the upstreams in configured order with their state.
func (s *Server) Upstreams() []UpstreamState {
	var out []UpstreamState
	for _, u := range s.route.Load().pool.ups {
		out = append(out, UpstreamState{Upstream: u.String(), Down: u.down.Load()})
	}
	return out
}

func protoOf(udp bool) string {
	if udp {
		return "udp"
	}
	return "tcp"
}

// elapsed is the time since start, a reading of Config.Now. time.Now's
// readings carry the monotonic clock, and then elapsed reads only that
// (time.Since), half the cost of time.Now on the hot path; a test's clock
// gives readings without it, and is asked again.
func (s *Server) elapsed(start time.Time) time.Duration {
	if start != start.Round(0) { // Round(0) strips the monotonic reading
		return time.Since(start)
	}
	return s.cfg.Now().Sub(start)
}

// served is one answer as the Recorder and the query log learn of it.
type served struct {
	proto    string
	client   netip.Addr
	q        dns.Question // zero when the query had none nxray could read
	rcode    int          // as the client gets it
	upstream string       // empty for the cache and nxray's own answers
	cached   bool
	start    time.Time // when the query was read (Config.Now)
}

// reports says whether an answer is told to anyone beyond the counters: a
// Recorder, or the query log. Callers check it before they build the
// served their report takes, which a cache hit should not pay for.
func (s *Server) reports(rt *routing) bool { return s.cfg.Recorder != nil || rt.logQueries }

// report tells the Recorder of a, an answer about to be written, and logs
// it when rt logs queries. The fast path tells its own, allocation free
// (serveUDPHit, finishFast).
func (s *Server) report(rt *routing, a *served) {
	d := s.elapsed(a.start)
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.Answered(a.proto, a.rcode, a.cached, a.start, d)
	}
	if rt.logQueries {
		s.logQuery(a, d)
	}
}

// logQuery writes the query log's line for a, which took d. rcode is what
// the client got: SERVFAIL when no upstream answered, REFUSED for a client
// outside the ACL. duration_ms has microseconds, as the status page's
// latencies do.
func (s *Server) logQuery(a *served, d time.Duration) {
	qtype := ""
	if a.q != (dns.Question{}) {
		qtype = dns.Type(a.q.Qtype).String() // TYPE65280 for a type without a name
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "query",
		slog.String("client", a.client.String()), slog.String("name", a.q.Name),
		slog.String("qtype", qtype), slog.String("rcode", rcodeName(a.rcode)),
		slog.String("upstream", a.upstream), slog.Bool("cached", a.cached),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000))
}

// rcodeName is rc as dig prints it, or its number when it has no name.
func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
