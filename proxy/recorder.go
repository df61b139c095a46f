package proxy

import (
	"strconv"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/upstream"
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
type UpstreamState = upstream.State

// Upstreams lists the upstreams in configured order with their state.
// The default upstreams come first, then each forward zone's (Zone set).
func (s *Server) Upstreams() []UpstreamState {
	rt := s.route.Load()
	out := rt.pool.States()
	for _, z := range rt.zones {
		out = append(out, z.pool.States()...)
	}
	return out
}

// rcodeName is rc as dig prints it, or its number when it has no name.
func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}
