package proxy

import (
	"time"
)

// Recorder is told of every answer sent and every try at an upstream, for
// metrics. It is called on the query path from many goroutines at once: it
// must be quick and never block.
type Recorder interface {
	// Answered: one answer went to a client over proto ("udp" or "tcp").
	Answered(proto string, rcode int, cached bool)
	// Tried: one try at upstream took d; err is nil when it answered.
	Tried(upstream string, d time.Duration, err error)
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
