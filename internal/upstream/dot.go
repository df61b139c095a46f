package upstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// dotTransport carries queries to one DNS-over-TLS upstream (RFC 7858) on
// a few long-lived connections, pipelined (RFC 7766 section 6.2.1.1):
// each connection's reader hands every answer to the query with its ID,
// in whatever order the answers come.
//
// A connection carries dotPending queries at once (Knot Resolver's
// default tcp_pipeline; more would only wait in its socket); when all are
// full a new one is opened, up to dotConns, and beyond that a query waits
// for room until its deadline. Waiting for room is nxray's own load, not
// the upstream's failure: it ends in ErrBusy, which the pool does not
// count against the upstream. A connection no query used for the idle
// timeout is closed; one the server closed is replaced by the next query,
// and a query lost with a connection that had answered before (the server
// closed it as idle as the query went out) is sent once more.
type dotTransport struct {
	addr       string
	tls        *tls.Config // ServerName set
	idle       time.Duration
	mismatched *atomic.Uint64
	dials      atomic.Int64 // connections established
	ctx        context.Context
	cancel     context.CancelFunc

	mu      sync.Mutex // guards conns, room, closed, aborted and each dotConn's guarded fields
	conns   []*dotConn // live or dialing, fullest first
	room    chan struct{}
	closed  bool
	aborted error
	wg      sync.WaitGroup // connect-and-read goroutines, one per connection
}

const (
	// dotPending is how many queries one connection carries at once.
	dotPending = 100
	// dotConns is how many connections one upstream gets.
	dotConns = 8
	// defaultIdle closes a connection no query used for this long.
	defaultIdle = 10 * time.Second
)

var (
	// ErrBusy is a query that found every connection to an upstream full
	// until its deadline: nxray's own load, not the upstream's fault.
	ErrBusy = errors.New("every connection to the upstream is busy")
	// errConnLost is a connection that closed before the query's answer.
	errConnLost = errors.New("connection closed before the answer")
)

// dotConn is one TLS connection and the queries waiting on it.
type dotConn struct {
	ready chan struct{} // closed once the handshake ended; c or err is set then
	c     *tls.Conn
	err   error
	wmu   sync.Mutex // serializes writes

	// guarded by the transport's mu
	pending map[uint16]*dotCall
	dead    bool
	used    bool // has carried an answer
}

// dotCall is one query on a connection; the reader or kill sends its
// outcome on ch, once.
type dotCall struct {
	q  []byte // the query with the ID it carries on this connection
	ch chan result
}

// NewDoT returns the DNS-over-TLS transport to addr (IP:port), checking
// the certificate with cfg (nil: the system roots) for name, or for the IP
// when name is ""; idle (0: 10s) closes unused connections. When ctx ends,
// every query in flight ends and no other starts.
func NewDoT(ctx context.Context, addr, name string, cfg *tls.Config, idle time.Duration, mismatched *atomic.Uint64) *dotTransport {
	if idle <= 0 {
		idle = defaultIdle
	}
	t := &dotTransport{addr: addr, tls: tlsConfig(cfg, addr, name), idle: idle, mismatched: mismatched}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	context.AfterFunc(ctx, t.abort)
	return t
}

// Exchange sends q and waits for its answer, until deadline or ctx ends.
func (t *dotTransport) Exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error) {
	r, retry, err := t.once(ctx, q, deadline)
	if retry {
		r, _, err = t.once(ctx, q, deadline)
	}
	return r, err
}

// once is one try of q on one connection; retry says a fresh connection
// may do better.
func (t *dotTransport) once(ctx context.Context, q []byte, deadline time.Time) (Reply, bool, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	call := &dotCall{q: bytes.Clone(q), ch: make(chan result, 1)}
	c, reused, err := t.acquire(ctx, call, deadline, timer.C)
	if err != nil {
		return Reply{}, false, err
	}
	defer t.release(c, call)
	select {
	case <-c.ready:
	case <-ctx.Done():
		return Reply{}, false, ctx.Err()
	case <-timer.C:
		return Reply{}, false, &ReasonError{Reason: "handshake timed out", Err: os.ErrDeadlineExceeded}
	}
	if c.err != nil {
		return Reply{}, false, c.err
	}
	if err := c.write(call.q, deadline); err != nil {
		t.kill(c, err)
		return Reply{}, reused, &ReasonError{Reason: "connection lost: " + err.Error(), Err: err}
	}
	select {
	case a := <-call.ch:
		if a.err != nil {
			return Reply{}, reused && errors.Is(a.err, errConnLost), a.err
		}
		b := a.r.Raw
		copy(b, q[:2]) // the caller's ID back
		r, err := read(b, q)
		return r, false, err
	case <-ctx.Done():
		return Reply{}, false, ctx.Err()
	case <-timer.C:
		return Reply{}, false, os.ErrDeadlineExceeded
	}
}

// acquire registers call on a connection with room, opening one if none
// has room and there may be more, or waits for room until expired fires.
// reused says the connection has answered before.
func (t *dotTransport) acquire(ctx context.Context, call *dotCall, deadline time.Time, expired <-chan time.Time) (*dotConn, bool, error) {
	for {
		t.mu.Lock()
		if t.aborted != nil {
			t.mu.Unlock()
			return nil, false, t.aborted
		}
		// A closed transport (a reload) still carries the tries of its
		// pool's queries; release closes each connection after its last.
		c := t.pick()
		if c == nil && len(t.conns) < dotConns {
			c = t.open(deadline)
		}
		if c != nil {
			c.add(call)
			reused := c.used
			t.mu.Unlock()
			return c, reused, nil
		}
		if t.room == nil {
			t.room = make(chan struct{})
		}
		room := t.room
		t.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-expired:
			return nil, false, ErrBusy
		}
	}
}

// pick is the first connection with room; t.mu held.
func (t *dotTransport) pick() *dotConn {
	for _, c := range t.conns {
		if !c.dead && len(c.pending) < dotPending {
			return c
		}
	}
	return nil
}

// open starts a connection, dialed by deadline on a goroutine that then
// reads its answers; t.mu held.
func (t *dotTransport) open(deadline time.Time) *dotConn {
	c := &dotConn{ready: make(chan struct{}), pending: map[uint16]*dotCall{}}
	t.conns = append(t.conns, c)
	t.wg.Add(1)
	go t.connect(c, deadline)
	return c
}

// add gives call an ID no other query on c has and registers it; t.mu held.
func (c *dotConn) add(call *dotCall) {
	for {
		id := uint16(rand.Uint32())
		if _, taken := c.pending[id]; !taken {
			binary.BigEndian.PutUint16(call.q, id)
			c.pending[id] = call
			return
		}
	}
}

// release takes call off c, wakes a query waiting for room, and closes c
// if the transport closed and c carries nothing more.
func (t *dotTransport) release(c *dotConn, call *dotCall) {
	t.mu.Lock()
	id := be16(call.q)
	if c.pending[id] == call {
		delete(c.pending, id)
	}
	t.wake()
	last := t.closed && len(c.pending) == 0
	t.mu.Unlock()
	if last {
		t.kill(c, errClosed)
	}
}

// wake lets the queries waiting for room look again; t.mu held.
func (t *dotTransport) wake() {
	if t.room != nil {
		close(t.room)
		t.room = nil
	}
}

// connect dials c and then reads its answers until it closes.
func (t *dotTransport) connect(c *dotConn, deadline time.Time) {
	defer t.wg.Done()
	ctx, cancel := context.WithDeadline(t.ctx, deadline)
	conn, err := dialTLS(ctx, t.addr, t.tls)
	cancel()
	t.mu.Lock()
	if err == nil && c.dead { // closed while dialing
		conn.Close()
		err = errClosed
	}
	c.c, c.err = conn, err
	close(c.ready)
	t.mu.Unlock()
	if err != nil {
		t.kill(c, err)
		return
	}
	t.dials.Add(1)
	t.read(c)
}

// read hands each answer on c to its query until c fails or stays idle.
func (t *dotTransport) read(c *dotConn) {
	br := bufio.NewReader(c.c)
	for {
		c.c.SetReadDeadline(time.Now().Add(t.idle))
		var n [2]byte
		k, err := io.ReadFull(br, n[:])
		if err != nil && k == 0 && isTimeout(err) {
			if t.idleOut(c) {
				return
			}
			continue // queries wait: they time out on their own
		}
		var b []byte
		if err == nil {
			b = make([]byte, binary.BigEndian.Uint16(n[:]))
			_, err = io.ReadFull(br, b)
		}
		if err != nil {
			t.kill(c, errConnLost)
			return
		}
		t.deliver(c, b)
	}
}

// idleOut closes c if no query waits on it, in one step with the check, so
// that no query takes c in between.
func (t *dotTransport) idleOut(c *dotConn) bool {
	t.mu.Lock()
	idle := len(c.pending) == 0
	if idle {
		t.drop(c, errConnLost)
	}
	t.mu.Unlock()
	if idle {
		c.c.Close()
	}
	return idle
}

// deliver hands b to the query on c with its ID and question, or counts
// it as mismatched.
func (t *dotTransport) deliver(c *dotConn, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(b) >= 2 {
		if call := c.pending[be16(b)]; call != nil && Matches(b, call.q) {
			delete(c.pending, be16(b))
			c.used = true
			call.ch <- result{r: Reply{Raw: b}}
			return
		}
	}
	t.mismatched.Add(1)
}

// kill closes c and fails the queries on it with err.
func (t *dotTransport) kill(c *dotConn, err error) {
	t.mu.Lock()
	t.drop(c, err)
	conn := c.c
	t.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// drop marks c dead, fails its queries with err and takes it out of the
// transport's connections; t.mu held. Closing it is the caller's.
func (t *dotTransport) drop(c *dotConn, err error) {
	if !c.dead {
		c.dead = true
		for id, call := range c.pending {
			delete(c.pending, id)
			call.ch <- result{err: err}
		}
	}
	for i, o := range t.conns {
		if o == c {
			t.conns = append(t.conns[:i], t.conns[i+1:]...)
			break
		}
	}
	t.wake()
}

// write sends q, framed, by deadline.
func (c *dotConn) write(q []byte, deadline time.Time) error {
	out := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(out, uint16(len(q)))
	copy(out[2:], q)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(deadline)
	_, err := c.c.Write(out)
	return err
}

// Close closes the idle connections at once and the others once their
// last query is done; a query after Close (a try of a query the pool had)
// still goes out, on a connection that closes after it.
func (t *dotTransport) Close() {
	t.mu.Lock()
	t.closed = true
	var idle []*dotConn
	for _, c := range t.conns {
		if len(c.pending) == 0 {
			idle = append(idle, c)
		}
	}
	t.mu.Unlock()
	for _, c := range idle {
		t.kill(c, errClosed)
	}
}

// abort ends every query in flight and fails those that follow: nxray is
// shutting down.
func (t *dotTransport) abort() {
	t.mu.Lock()
	t.aborted = errAborted
	conns := append([]*dotConn(nil), t.conns...)
	t.mu.Unlock()
	t.cancel()
	for _, c := range conns {
		t.kill(c, errAborted)
	}
}

// wait waits for every connection's goroutine to end: for tests, after
// Close and the last query.
func (t *dotTransport) wait() { t.wg.Wait() }
