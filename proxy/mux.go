package proxy

import (
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// A mux is the UDP socket the fast miss path (udpmiss.go) shares between
// the queries it sends to one upstream, as dnsdist does: a responder
// goroutine per socket reads the answers and finishes the query each one
// matches, by ID and question. No goroutine waits per query, and no
// worker is woken for one.
//
// Each UDP reader has a socket of its own (its slot), so that answers are
// finished on as many goroutines as queries are read on.
//
// A socket takes muxUses queries, then a new one (with a new random source
// port) takes over; the old one closes once its last query is done. So a
// spoofer still has to guess the port as well as the ID (RFC 5452), about
// as often as with the full path's kept sockets; and no more answers can
// arrive at once on one socket than its receive buffer holds (muxReadBuffer,
// or the system's default of 208 KiB: 64 answers of 1232 bytes fit).
type mux struct {
	u      *upstream
	mu     sync.Mutex // guards cur and closed
	cur    []*muxSock // by slot; nil until a query needs it
	closed bool
}

func newMux(u *upstream) *mux { return &mux{u: u, cur: make([]*muxSock, runtime.GOMAXPROCS(0))} }

// muxUses is how many queries one mux socket carries.
const muxUses = 64

// muxReadBuffer is the receive buffer asked for each mux socket; the system
// may cap it (net.core.rmem_max).
const muxReadBuffer = 1 << 20

// muxSock is one of a mux's sockets.
type muxSock struct {
	m    *mux
	slot int
	conn net.Conn

	mu      sync.Mutex // guards the rest
	pending map[uint16]*fastMiss
	late    map[uint16]bool // IDs of queries that timed out: their answers are not mismatches
	uses    int
	retired bool // takes no more queries; closes once pending is empty
	dead    bool // its responder has stopped
}

// errMuxClosed is a send on a closed pool's mux.
var errMuxClosed = errors.New("upstream socket closed")

// send registers m under a fresh ID on slot's current socket, arms its
// try's timer and sends its query. It fails, without taking m, if the pool
// is closed or no socket can be had.
func (x *mux) send(m *fastMiss, slot int) error {
	slot %= len(x.cur)
	var s *muxSock
	for range 3 {
		var err error
		if s, err = x.socket(slot); err != nil {
			return err
		}
		s.mu.Lock()
		if !s.dead && !s.retired {
			break
		}
		// Retired by another reader, or failed, since socket() gave it out.
		s.mu.Unlock()
		s = nil
	}
	if s == nil {
		return errMuxClosed
	}
	id := randomID()
	for s.pending[id] != nil {
		id = randomID()
	}
	delete(s.late, id)
	m.sock, m.id = s, id
	m.setID(id)
	s.pending[id] = m
	if s.uses++; s.uses >= muxUses {
		s.retired = true
		x.mu.Lock()
		if x.cur[slot] == s {
			x.cur[slot] = nil
		}
		x.mu.Unlock()
	}
	m.timer = time.AfterFunc(time.Until(m.win.end), m.expire)
	s.mu.Unlock()
	if _, err := s.conn.Write(m.q); err != nil {
		if s.take(m, false) {
			m.timer.Stop()
			m.tried(reply{}, err)
		}
	}
	return nil
}

// socket returns slot's current socket, dialing one if there is none.
func (x *mux) socket(slot int) (*muxSock, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, errMuxClosed
	}
	if s := x.cur[slot]; s != nil {
		return s, nil
	}
	conn, err := net.Dial("udp", x.u.Addr)
	if err != nil {
		return nil, err
	}
	conn.(*net.UDPConn).SetReadBuffer(muxReadBuffer) // best effort
	// Registered for Server.abort, which sets a deadline in the past on
	// it: the responder's read fails, and with it every query pending.
	if !x.u.sockets.arm(conn, time.Time{}, true) {
		conn.Close()
		return nil, errInterrupted
	}
	s := &muxSock{m: x, slot: slot, conn: conn, pending: make(map[uint16]*fastMiss)}
	x.cur[slot] = s
	go s.respond()
	return s, nil
}

// close retires the current sockets: queries still pending finish.
func (x *mux) close() {
	x.mu.Lock()
	cur := slices.Clone(x.cur)
	clear(x.cur)
	x.closed = true
	x.mu.Unlock()
	for _, s := range cur {
		if s == nil {
			continue
		}
		s.mu.Lock()
		s.retired = true
		idle := len(s.pending) == 0
		s.mu.Unlock()
		if idle {
			s.m.u.sockets.close(s.conn) // wakes the responder, which leaves
		}
	}
}

// take removes m from s's pending queries and says whether it was there:
// whoever takes it finishes it. late notes that an answer may still come.
// A retired socket with nothing left pending is closed.
func (s *muxSock) take(m *fastMiss, late bool) bool {
	s.mu.Lock()
	ok := s.pending[m.id] == m
	if ok {
		delete(s.pending, m.id)
		if late {
			if s.late == nil {
				s.late = make(map[uint16]bool)
			}
			s.late[m.id] = true
		}
	}
	idle := ok && s.retired && len(s.pending) == 0
	s.mu.Unlock()
	if idle {
		s.m.u.sockets.close(s.conn)
	}
	return ok
}

// respond reads answers until the socket closes or fails, finishing the
// pending query each one answers. Anything else is counted and dropped, as
// the full path drops it.
func (s *muxSock) respond() {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.fail(err)
			return
		}
		if n < headerLen {
			s.m.u.mismatched.Add(1)
			continue
		}
		s.mu.Lock()
		m := s.pending[be16(buf)]
		var r reply
		ok := m != nil
		if ok {
			r, ok = m.accept(buf[:n])
		}
		if !ok {
			// A late answer to a query that timed out is dropped, as the
			// full path drops it by closing the try's socket.
			late := m == nil && s.late[be16(buf)]
			s.mu.Unlock()
			if !late {
				s.m.u.mismatched.Add(1)
			}
			continue
		}
		delete(s.pending, m.id)
		idle := s.retired && len(s.pending) == 0
		s.mu.Unlock()
		m.timer.Stop()
		m.tried(r, nil)
		if idle {
			s.m.u.sockets.close(s.conn)
			return
		}
	}
}

// fail ends every query pending on s with err, a closed socket's included
// (none should be pending then), and marks s dead.
func (s *muxSock) fail(err error) {
	if !errors.Is(err, net.ErrClosed) {
		s.m.mu.Lock()
		if s.m.cur[s.slot] == s {
			s.m.cur[s.slot] = nil
		}
		s.m.mu.Unlock()
	}
	s.mu.Lock()
	s.dead = true
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.m.u.sockets.close(s.conn)
	for _, m := range pending {
		m.timer.Stop()
		m.tried(reply{}, err)
	}
}

// timeoutError is a try that got no answer before its end, worded as a
// socket's read deadline is.
func timeoutError(c net.Conn) error {
	return &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
}
