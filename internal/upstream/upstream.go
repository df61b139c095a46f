// Package upstream sends nxray's queries to the resolvers it forwards to:
// a Pool tries them by its strategy (failover, parallel or random), keeps
// each one's health, and carries each try over a Transport: UDP on shared
// sockets, TCP, DNS over TLS (pipelined on reused connections) or DNS
// over HTTPS (HTTP/2).
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Upstream is one resolver nxray forwards to.
type Upstream struct {
	// Net is "udp" (UDP, retried over TCP when truncated), "tcp", "tls"
	// (DNS over TLS) or "https" (DNS over HTTPS).
	Net string
	// Addr is IP:port.
	Addr string
	// ServerName is the name the certificate must carry (tls, https); ""
	// means Addr's IP.
	ServerName string
	// Path is the URL path of a DNS-over-HTTPS upstream, such as
	// "/dns-query".
	Path string
	// GET sends DNS-over-HTTPS queries as GET requests rather than POST.
	GET bool
	// TLS holds the roots certificates are checked against (tls, https);
	// nil means the system's. It is cloned, never changed.
	TLS *tls.Config
	// IdleTimeout closes a tls or https connection no query used for that
	// long; zero means 10s.
	IdleTimeout time.Duration
}

// String is the upstream as a user writes it, with the address it goes to.
func (u Upstream) String() string {
	name := ""
	if u.ServerName != "" {
		name = "#" + u.ServerName
	}
	switch u.Net {
	case "tcp":
		return "tcp://" + u.Addr
	case "tls":
		return "tls://" + u.Addr + name
	case "https":
		if u.GET {
			return "https://" + u.Addr + u.Path + "{?dns}" + name
		}
		return "https://" + u.Addr + u.Path + name
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
	udp, tcp Transport // udp is nil but for UDP; tcp is the TLS or HTTPS transport for those

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
	m := &member{Upstream: u}
	switch u.Net {
	case "tls":
		m.tcp = NewDoT(ctx, u.Addr, u.ServerName, u.TLS, u.IdleTimeout, mismatched)
	case "https":
		m.tcp = NewDoH(u.Addr, u.ServerName, u.Path, u.GET, u.TLS, u.IdleTimeout, mismatched)
	case "tcp":
		m.tcp = NewTCP(u.Addr, mismatched)
	default:
		m.tcp = NewTCP(u.Addr, mismatched)
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
