package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxTCPQueries caps the queries in flight on one TCP connection. At the
// cap the connection's reader reads no further until one is answered, so
// a client cannot start goroutines without bound.
const maxTCPQueries = 64

// tcpServer serves DNS over TCP on one listener (RFC 7766). Each connection
// has a reader, which reads its length-prefixed queries one after another
// and starts a goroutine per query; each answer is written as soon as it is
// ready, so a slow upstream holds up its own query only, and answers may go
// out in another order than their queries came in (section 6.2.1.1).
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
			t.s.log.Error("accepting TCP connection", "error", err.Error(), "retry_in", backoff)
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
	conn net.Conn   // as accepted: closing it gives back its place under the cap
	sock net.Conn   // the socket itself, for writev and for closing it early
	wmu  sync.Mutex // held through each answer's write: answers go out whole

	mu         sync.Mutex // guards the fields below
	changed    sync.Cond  // signalled when a query ends or shutdown begins; L is &mu
	inflight   int        // queries read and not yet answered, at most maxTCPQueries
	lastActive time.Time  // when a query last came in or was answered
	stopped    bool       // shutdown has begun: the read deadline in the past stays
}

// serve reads queries until the client is done, the connection idles out or
// shutdown begins, then closes the connection once the queries in flight
// are answered.
func (c *tcpConn) serve() {
	defer c.t.wg.Done()
	br := tcpReaders.Get().(*bufio.Reader)
	br.Reset(c.conn)
	for c.waitForSlot() {
		b, err := c.readQuery(br)
		if err != nil {
			c.t.s.log.Debug("closing TCP connection", "client", c.conn.RemoteAddr(), "error", err)
			break
		}
		c.t.wg.Add(1)
		go c.answer(b)
	}
	br.Reset(nil)
	tcpReaders.Put(br)
	c.waitDrained()
	c.conn.Close()
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
}

// readQuery reads the next length-prefixed message (RFC 1035 4.2.2) and
// counts it in flight.
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
	c.mu.Lock()
	c.inflight++
	c.lastActive = time.Now()
	c.mu.Unlock()
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

// waitForSlot waits until fewer than maxTCPQueries are in flight, and says
// whether to read on: not once shutdown has begun.
func (c *tcpConn) waitForSlot() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.inflight >= maxTCPQueries && !c.stopped {
		c.changed.Wait()
	}
	return !c.stopped
}

// waitDrained waits until every query in flight has ended.
func (c *tcpConn) waitDrained() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.inflight > 0 {
		c.changed.Wait()
	}
}

// answer serves one query on a goroutine of its own.
func (c *tcpConn) answer(b []byte) {
	defer c.t.wg.Done()
	c.t.s.serveWire(&tcpWriter{c: c}, b)
	c.mu.Lock()
	c.inflight--
	c.lastActive = time.Now()
	c.changed.Signal() // only the reader waits
	c.mu.Unlock()
}

// write sends the answer b behind its length, whole, in one system call
// (writev) and in turn with the connection's other answers. A client that
// does not take it within the idle timeout loses the connection, as does
// any failed write; its place under the connection cap is given back when
// serve ends, once its queries are done.
func (c *tcpConn) write(b []byte) error {
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(b)))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.sock.SetWriteDeadline(time.Now().Add(c.t.s.cfg.TCPIdleTimeout))
	bufs := net.Buffers{n[:], b}
	if _, err := bufs.WriteTo(c.sock); err != nil {
		c.sock.Close() // the reader's next read fails: it stops
		return err
	}
	return nil
}

// tcpWriter is the dns.ResponseWriter of one query on a TCP connection. It
// is used by one goroutine.
type tcpWriter struct {
	c *tcpConn
}

var _ dns.ResponseWriter = (*tcpWriter)(nil)

func (w *tcpWriter) LocalAddr() net.Addr { return w.c.conn.LocalAddr() }

// RemoteAddr is a *net.TCPAddr, which client.go tells from UDP's.
func (w *tcpWriter) RemoteAddr() net.Addr { return w.c.conn.RemoteAddr() }

// WriteMsg packs m compressed, as a large answer may only fit so, and
// writes it.
func (w *tcpWriter) WriteMsg(m *dns.Msg) error {
	m.Compress = true
	return writeMsg(w, m)
}

// Write sends the packed message b behind its length, in one write.
func (w *tcpWriter) Write(b []byte) (int, error) {
	if len(b) > dns.MaxMsgSize {
		return 0, fmt.Errorf("%d-byte message: too long for TCP", len(b))
	}
	if err := w.c.write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (w *tcpWriter) Close() error        { return nil }
func (w *tcpWriter) TsigStatus() error   { return nil }
func (w *tcpWriter) TsigTimersOnly(bool) {}
func (w *tcpWriter) Hijack()             {}
