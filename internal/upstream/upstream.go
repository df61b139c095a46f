// Package upstream sends nxray's queries to the resolvers it forwards to:
// a Pool tries them by its strategy (failover, parallel or random), keeps
// each one's health, and carries each try over a Transport: UDP on shared
// sockets, or TCP.
package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Upstream is one resolver nxray forwards to.
type Upstream struct {
	// Net is "udp" (UDP, retried over TCP when truncated) or "tcp".
	Net string
	// Addr is IP:port.
	Addr string
}

func (u Upstream) String() string {
	if u.Net == "tcp" {
		return "tcp://" + u.Addr
	}
	return u.Addr
}

var (
	// ErrMismatch is an answer whose ID or question is not the query's.
	ErrMismatch = errors.New("answer does not match the query")
	// ErrNoUpstream is the error of a query that no upstream answered.
	ErrNoUpstream = errors.New("no upstream answered")
	// errClosed is a try on a closed pool's transport.
	errClosed = errors.New("upstream transport closed")
)

// Recorder is told of every try at an upstream, for metrics. It is called
// on the query path: it must be quick and never block.
type Recorder interface {
	// Tried: one try at upstream took d; err is nil when it answered, and
	// rcode is then the answer's.
	Tried(upstream string, d time.Duration, rcode int, err error)
}

// Config is what a Pool needs.
type Config struct {
	Upstreams []Upstream
	// Zone is the forward zone the pool serves, for States; "" for the
	// pool of every other name.
	Zone string
	// Strategy is "failover", "parallel" or "random".
	Strategy string
	// Timeout bounds one try at one upstream.
	Timeout time.Duration
	// FailoverRcodes send the query on to the next upstream.
	FailoverRcodes []int
	// HealthInterval spaces the probes of a downed upstream.
	HealthInterval time.Duration
	Log            *slog.Logger
	// Mismatched counts answers dropped for a wrong ID or question.
	Mismatched *atomic.Uint64
	// Recorder may be nil.
	Recorder Recorder
	// Context ends every query in flight at once when it ends: the
	// server's, at shutdown. Nil means context.Background().
	Context context.Context
}

// member is an Upstream in a pool: its transports and its health.
type member struct {
	Upstream
	udp, tcp Transport // udp is nil for a TCP upstream

	down    atomic.Bool // failing (health.go); the health probe clears it
	probing atomic.Bool // a health probe is in flight
	// failing says fails > 0, so that an answer costs a lock only when
	// there is a count to reset.
	failing  atomic.Bool
	healthMu sync.Mutex // guards fails and lastFail
	fails    int        // questions whose tries failed since the last answer
	lastFail string     // the question of the last failure counted
}

func newMember(ctx context.Context, u Upstream, mismatched *atomic.Uint64) *member {
	m := &member{Upstream: u, tcp: NewTCP(u.Addr, mismatched)}
	if u.Net != "tcp" {
		m.udp = NewUDP(ctx, u.Addr, mismatched)
	}
	return m
}

// first is the transport a query goes over first.
func (m *member) first() Transport {
	if m.udp != nil {
		return m.udp
	}
	return m.tcp
}

func (m *member) close() {
	if m.udp != nil {
		m.udp.Close()
	}
	m.tcp.Close()
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// isTimeout tells a try that got no answer in time from one that failed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
