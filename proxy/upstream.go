package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
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
)

// upstream is an Upstream with its health state.
type upstream struct {
	Upstream
	down    atomic.Bool // a network failure was seen; the health probe clears it
	probing atomic.Bool // a health probe is in flight
	// mismatched counts answers dropped for a wrong ID or question; shared.
	mismatched *atomic.Uint64
	// sockets holds every socket this upstream has open; it is shared by
	// all the pools of one Server, so that shutdown reaches them all.
	sockets *sockets

	idleMu sync.Mutex // guards idle and closed
	idle   []net.Conn // connected UDP sockets free for the next query
	closed bool
}

// maxIdleUDP bounds the UDP sockets kept open per upstream between queries.
// Reusing a socket saves a socket, connect and close per query; each one
// still has its own random source port, and every query a random ID.
const maxIdleUDP = 64

// dial returns a socket to the upstream with deadline set on it: a kept
// UDP socket if there is one, else a new one.
func (u *upstream) dial(ctx context.Context, network string, deadline time.Time) (net.Conn, error) {
	if network == "udp" {
		u.idleMu.Lock()
		if n := len(u.idle); n > 0 {
			c := u.idle[n-1]
			u.idle = u.idle[:n-1]
			u.idleMu.Unlock()
			if !u.sockets.arm(c, deadline, false) {
				u.sockets.close(c)
				return nil, errInterrupted
			}
			return c, nil
		}
		u.idleMu.Unlock()
	}
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, network, u.Addr)
	if err != nil {
		return nil, err
	}
	if !u.sockets.arm(c, deadline, true) {
		c.Close()
		return nil, errInterrupted
	}
	return c, nil
}

// errInterrupted is a try cut short because the server is shutting down.
var errInterrupted = errors.New("interrupted: nxray is shutting down")

// release keeps a UDP socket that finished a clean exchange for reuse;
// anything else is closed.
func (u *upstream) release(c net.Conn, network string, clean bool) {
	if network == "udp" && clean {
		u.idleMu.Lock()
		if !u.closed && len(u.idle) < maxIdleUDP {
			u.idle = append(u.idle, c)
			u.idleMu.Unlock()
			return
		}
		u.idleMu.Unlock()
	}
	u.sockets.close(c)
}

// closeIdle closes the kept sockets; later releases close theirs.
func (u *upstream) closeIdle() {
	u.idleMu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.idleMu.Unlock()
	for _, c := range idle {
		u.sockets.close(c)
	}
}

// sockets is the set of upstream sockets a Server has open, kept so that
// shutdown can wake every try waiting on one, in whichever pool (a reload
// leaves the old pool's tries running). Tries are not each watched by a
// context for this: that costs a registration per forwarded query, and
// sockets are dialed far less often than used.
type sockets struct {
	mu          sync.Mutex
	open        map[net.Conn]struct{}
	interrupted bool
}

// arm sets deadline on c, registering c first if it is new. It fails once
// interrupt has run. Both happen under one lock, so an interrupt cannot
// fall between a socket's registration and its deadline and be undone.
func (s *sockets) arm(c net.Conn, deadline time.Time, isNew bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		return false
	}
	if isNew {
		if s.open == nil {
			s.open = make(map[net.Conn]struct{})
		}
		s.open[c] = struct{}{}
	}
	c.SetDeadline(deadline)
	return true
}

// close unregisters and closes c.
func (s *sockets) close(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	c.Close()
}

// interrupt ends every try in flight at once, kept sockets included, and
// fails those that follow: the server is shutting down and its drain
// deadline has passed.
func (s *sockets) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interrupted = true
	for c := range s.open {
		c.SetDeadline(time.Unix(1, 0))
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// exchange sends the packed query q (ID id, question qs) and returns the
// answer, retrying over TCP when the UDP answer is truncated. It gives up at
// deadline, when u is interrupted, and, if watch is set, as soon as ctx is
// done (a parallel race lost). ctx's error, if any, is the failure's reason.
func (u *upstream) exchange(ctx context.Context, watch bool, q []byte, id uint16, qs dns.Question, deadline time.Time) (*dns.Msg, error) {
	if u.Net == "tcp" {
		return u.exchangeOnce(ctx, watch, "tcp", q, id, qs, deadline)
	}
	m, err := u.exchangeOnce(ctx, watch, "udp", q, id, qs, deadline)
	if err == nil && m.Truncated {
		return u.exchangeOnce(ctx, watch, "tcp", q, id, qs, deadline)
	}
	return m, err
}

func (u *upstream) exchangeOnce(ctx context.Context, watch bool, network string, q []byte, id uint16, qs dns.Question, deadline time.Time) (m *dns.Msg, err error) {
	// The deadline goes on the socket (dial sets it), not into a context
	// of the try's own: a context per try costs a timer and a registration
	// with its parent on every forwarded query.
	conn, err := u.dial(ctx, network, deadline)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	stop := func() bool { return true }
	if watch {
		// Cancelling ctx (a parallel race lost) unblocks the read.
		stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	}
	defer func() {
		// A socket whose cancel func has run (or is running) carries a
		// deadline in the past: it is closed, not reused.
		u.release(conn, network, stop() && err == nil)
	}()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if network == "tcp" {
		out := make([]byte, 2+len(q))
		binary.BigEndian.PutUint16(out, uint16(len(q)))
		copy(out[2:], q)
		_, err = conn.Write(out)
	} else {
		_, err = conn.Write(q)
	}
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	for {
		n, err := readMsg(conn, network, buf)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil || !matches(m, id, qs) {
			// Spoofed, late or broken: drop it and keep listening until the
			// deadline, as a stub resolver does.
			u.mismatched.Add(1)
			continue
		}
		return m, nil
	}
}

func readMsg(conn net.Conn, network string, buf []byte) (int, error) {
	if network == "udp" {
		return conn.Read(buf)
	}
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(buf))
	if _, err := io.ReadFull(conn, buf[:n]); err != nil {
		return 0, err
	}
	return n, nil
}

func matches(m *dns.Msg, id uint16, q dns.Question) bool {
	if m.Id != id || !m.Response {
		return false
	}
	if len(m.Question) == 0 {
		// A server that could not parse the query may answer without the
		// question (RFC 1035 4.1.1); only an error may come back that way.
		return m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError && len(m.Answer) == 0
	}
	if len(m.Question) != 1 {
		return false
	}
	a := m.Question[0]
	return a.Qtype == q.Qtype && a.Qclass == q.Qclass && strings.EqualFold(a.Name, q.Name)
}

// ctxErr prefers the context's reason (deadline, cancel) over the socket's.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// isTimeout tells a try that got no answer in time from one that failed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
