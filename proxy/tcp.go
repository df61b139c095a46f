package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// maxTCPQueries caps the queries in flight on one TCP connection. At the
// cap the connection's reader reads no further until one is answered, so
// a client cannot start goroutines without bound.
const maxTCPQueries = 64

// tcpServer serves DNS over TCP on one listener (RFC 7766). Each connection
// has a reader, which reads its length-prefixed queries one after another
// and starts a goroutine per query; each answer is queued as soon as it is
// ready, so a slow upstream holds up its own query only, and answers may go
// out in another order than their queries came in (section 6.2.1.1). What a
// connection may owe its client is bounded (tcpwrite.go): past the budget,
// its reader waits.
type tcpServer struct {
	s    *Server
	ln   net.Listener   // a cappedListener
	quit chan struct{}  // closed at shutdown
	wg   sync.WaitGroup // the accept loop, every reader, every query's goroutine

	mu      sync.Mutex // guards the fields below
	conns   map[*tcpConn]struct{}
	closing bool
}

func newTCPServer(s *Server, ln net.Listener) *tcpServer {
	return &tcpServer{s: s, ln: ln, quit: make(chan struct{}), conns: make(map[*tcpConn]struct{})}
}

func (t *tcpServer) start() {
	t.wg.Add(1)
	go t.accept()
}

func (t *tcpServer) accept() {
	defer t.wg.Done()
	var backoff time.Duration
	for {
		conn, err := t.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of file descriptors, say: keep serving the connections
			// open, without spinning on the error.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.s.log.Error("accepting TCP connection", "error", err.Error(), "retry_in_ms", backoff.Milliseconds())
			select {
			case <-time.After(backoff):
			case <-t.quit:
				return
			}
			continue
		}
		backoff = 0
		t.serve(conn)
	}
}

// serve starts conn's reader, unless shutdown has begun.
func (t *tcpServer) serve(conn net.Conn) {
	c := &tcpConn{t: t, conn: conn, sock: conn, lastActive: time.Now()}
	if cc, ok := conn.(*countedConn); ok {
		c.sock = cc.Conn
	}
	c.changed.L = &c.mu
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		conn.Close()
		return
	}
	t.conns[c] = struct{}{}
	t.wg.Add(1)
	go c.serve()
}

// shutdown stops accepting connections and reading queries, lets the
// queries in flight be answered until ctx ends, then closes every
// connection. It returns once its goroutines are gone, with ctx's error if
// it ended first; past ctx, Server.abort makes queries waiting on upstreams
// give up.
func (t *tcpServer) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closing = true
	for c := range t.conns {
		c.stopReading()
	}
	t.mu.Unlock()
	close(t.quit)
	t.ln.Close()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	for c := range t.conns {
		c.conn.Close()
	}
	t.mu.Unlock()
	<-done
	return ctx.Err()
}

// tcpReaders holds TCP connections' read buffers: a few kilobytes take a
// burst of pipelined queries in one read.
var tcpReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

var (
	errTCPIdle     = errors.New("idle for the idle timeout")
	errTCPShutdown = errors.New("shutting down")
	errTCPEmpty    = errors.New("zero-length message")
)

// tcpConn is one client connection: its reader, and a goroutine for each
// query in flight.
type tcpConn struct {
	t    *tcpServer
	conn net.Conn // as accepted: closing it gives back its place under the caps
	sock net.Conn // the socket itself, for writing and for closing it early

	mu         sync.Mutex // guards the fields below
	changed    sync.Cond  // signalled when a query ends, bytes are written or shutdown begins; L is &mu
	inflight   int        // queries read whose goroutines have not ended, at most maxTCPQueries
	owed       int        // bytes the connection owes its client (tcpwrite.go)
	out        []byte     // framed answers waiting for the writer
	spare      []byte     // the writer's last buffer, emptied, for out to reuse
	writing    bool       // a goroutine is writing out; it writes until out is empty
	broken     bool       // a write failed: the socket is closed, answers are dropped
	lastActive time.Time  // when a query last came in or an answer went out
	stopped    bool       // shutdown has begun: the read deadline in the past stays
}

// serve reads queries until the client is done, the connection idles out or
// shutdown begins, then closes the connection once the queries in flight
// are answered. It reads only while the connection has room (admit). It
// answers what it can itself (serve.go): a cache hit, or an answer of
// nxray's own, goes out from here; a query that goes upstream goes on on a
// goroutine of its own, reserving room for its answer first.
func (c *tcpConn) serve() {
	defer c.t.wg.Done()
	br := tcpReaders.Get().(*bufio.Reader)
	br.Reset(c.conn)
	s, client := c.t.s, remoteIP(c.conn)
	inline := &tcpWriter{c: c} // for the answers made here, which reserve nothing
	q := new(query)            // the reader's; a miss goes on as a clone
	for c.admit(nil) {
		b, err := c.readQuery(br)
		if err != nil {
			s.log.Debug("closing TCP connection", "client", c.conn.RemoteAddr(), "error", err)
			break
		}
		*q = query{tcp: inline, proto: "tcp", client: client, pkt: b, start: s.cfg.Now(), rt: s.route.Load()}
		if !q.read(s.cfg.MaxUDPSize) || !s.admit(q) || s.fromCache(q) {
			continue
		}
		w := &tcpWriter{c: c, query: len(b), answer: tcpGuess}
		if !c.admit(w) {
			break
		}
		fq := q.clone()
		fq.tcp = w
		c.t.wg.Add(1)
		go c.answer(fq, w)
	}
	br.Reset(nil)
	tcpReaders.Put(br)
	c.waitDrained()
	c.conn.Close()
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
}

// readQuery reads the next length-prefixed message (RFC 1035 4.2.2).
func (c *tcpConn) readQuery(br *bufio.Reader) ([]byte, error) {
	for br.Buffered() == 0 {
		if err := c.armIdle(); err != nil {
			return nil, err
		}
		if _, err := br.Peek(1); err != nil && !isTimeout(err) {
			return nil, err
		}
	}
	// From its first byte on, the message has the idle timeout to arrive
	// whole: a length and then nothing does not hold the connection.
	if err := c.armRead(time.Now().Add(c.t.s.cfg.TCPIdleTimeout)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(br, n[:]); err != nil {
		return nil, err
	}
	if be16(n[:]) == 0 {
		return nil, errTCPEmpty
	}
	b := make([]byte, be16(n[:]))
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, err
	}
	return b, nil
}

// armIdle sets the read deadline for the wait for the next query: the
// connection may be idle, with no query in flight and none coming in, for
// the idle timeout.
func (c *tcpConn) armIdle() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errTCPShutdown
	}
	now := time.Now()
	d := now.Add(c.t.s.cfg.TCPIdleTimeout) // not idle: looked at again then
	if c.inflight == 0 {
		d = c.lastActive.Add(c.t.s.cfg.TCPIdleTimeout)
	}
	if !d.After(now) {
		return errTCPIdle
	}
	c.conn.SetReadDeadline(d)
	return nil
}

// armRead sets the read deadline to d, unless shutdown has begun.
func (c *tcpConn) armRead(d time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errTCPShutdown
	}
	c.conn.SetReadDeadline(d)
	return nil
}

// stopReading wakes the reader for good: shutdown has begun.
func (c *tcpConn) stopReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	c.conn.SetReadDeadline(time.Unix(1, 0))
	c.changed.Signal()
}

// waitDrained waits until every query in flight has ended.
func (c *tcpConn) waitDrained() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.inflight > 0 {
		c.changed.Wait()
	}
}

// answer forwards q on a goroutine of its own. Its answer is queued
// (tcpWriter.Write); the goroutine ends then, unless it is the one writing
// the queue out.
func (c *tcpConn) answer(q *query, w *tcpWriter) {
	defer c.t.wg.Done()
	c.t.s.forward(q)
	c.mu.Lock()
	c.inflight--
	c.owed -= w.query + w.answer // what is still reserved: w.answer is 0 once the answer is queued
	c.lastActive = time.Now()
	c.changed.Signal() // only the reader waits
	c.mu.Unlock()
}
