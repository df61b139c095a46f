package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"errors"
	"net"
	"net/netip"
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
// Each UDP reader slot has a socket of its own, so that answers are
// finished on as many goroutines as queries are read on (readers of two
// listeners share a slot).
//
// A socket takes muxUses queries, or muxPending at once, then a new one
// (with a new random source port) takes over; the old one closes once its
// last query is done. So a spoofer still has to guess the port as well as
// the ID (RFC 5452); and no more answers can arrive at once on one socket
// than its receive buffer holds (muxReadBuffer, or the system's default of
// 208 KiB: 64 answers of 1232 bytes fit).
type mux struct {
	u      *upstream
	to     *net.UDPAddr // u's address, parsed once; nil if it is a name
	mu     sync.Mutex   // guards cur and closed
	cur    []*muxSock   // by slot; nil until a query needs it
	closed bool
}

func newMux(u *upstream) *mux {
	x := &mux{u: u, cur: make([]*muxSock, runtime.GOMAXPROCS(0))}
	if ap, err := netip.ParseAddrPort(u.Addr); err == nil {
		x.to = net.UDPAddrFromAddrPort(ap)
	}
	return x
}

const (
	// muxUses is how many queries one mux socket carries in all.
	muxUses = 256
	// muxPending is how many queries one mux socket carries at once.
	muxPending = 64
)

// muxReadBuffer is the receive buffer asked for each mux socket; the system
// may cap it (net.core.rmem_max).
const muxReadBuffer = 1 << 20

// muxSock is one of a mux's sockets.
type muxSock struct {
	m     *mux
	slot  int
	conn  net.Conn
	timer *time.Timer // ends the first try pending (expire)

	mu      sync.Mutex // guards the rest
	tries   []muxTry   // every query sent on it, in order
	ids     []uint16   // their IDs, which are unique, by index; scanned
	next    int        // tries before it are done
	pending int
	armed   bool // timer is set
	retired bool // takes no more queries; closes once nothing is pending
	dead    bool // its responder has stopped
}

// muxTry is one query sent on a muxSock. Each socket's tries end in the
// order they were sent (the pool's try timeout and the query deadline are
// the same for all of them), so one timer per socket ends them all.
type muxTry struct {
	m    *fastMiss // nil once done
	end  time.Time
	late bool // timed out: an answer to it is not a mismatch
}

// errMuxClosed is a send on a closed pool's mux.
var errMuxClosed = errors.New("upstream socket closed")

// send registers m under a fresh ID on slot's current socket, sets its
// deadline and try window, arms the socket's timer for it if need be, and
// sends its query. It fails, without
// taking m, if the pool is closed or no socket can be had.
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
	for s.find(id) >= 0 {
		id = randomID()
	}
	// The clock is read under s.mu, so that the socket's tries end in the
	// order they are sent, as expire needs.
	m.end = time.Now().Add(m.s.cfg.Deadline)
	m.win = m.rt.pool.window(m.end)
	m.sock, m.id, m.try = s, id, len(s.tries)
	m.setID(id)
	s.tries = append(s.tries, muxTry{m: m, end: m.win.end})
	s.ids = append(s.ids, id)
	s.pending++
	if len(s.tries) >= muxUses || s.pending >= muxPending {
		s.retired = true
		x.mu.Lock()
		if x.cur[slot] == s {
			x.cur[slot] = nil
		}
		x.mu.Unlock()
	}
	if !s.armed {
		s.armed = true
		s.timer.Reset(time.Until(m.win.end))
	}
	s.mu.Unlock()
	if _, err := s.conn.Write(m.q); err != nil {
		if s.take(m) {
			m.tried(reply{}, err)
		}
	}
	return nil
}

// find is the index of the try with ID id, or -1. It looks from the
// latest: an answer is most likely to a recent query.
func (s *muxSock) find(id uint16) int {
	for i := len(s.ids) - 1; i >= 0; i-- {
		if s.ids[i] == id {
			return i
		}
	}
	return -1
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
	var conn net.Conn
	var err error
	if x.to != nil {
		conn, err = net.DialUDP("udp", nil, x.to) // no address to resolve
	} else {
		conn, err = net.Dial("udp", x.u.Addr)
	}
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
	s := &muxSock{m: x, slot: slot, conn: conn, tries: make([]muxTry, 0, muxPending), ids: make([]uint16, 0, muxPending)}
	s.timer = time.AfterFunc(time.Hour, s.expire)
	s.timer.Stop()
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
		idle := s.pending == 0
		s.mu.Unlock()
		if idle {
			s.shut() // wakes the responder, which leaves
		}
	}
}

// shut closes s for good.
func (s *muxSock) shut() {
	s.timer.Stop()
	s.m.u.sockets.close(s.conn)
}

// done marks try i, pending, as done with; late notes that an answer may
// still come. It says whether s is now retired with nothing pending, so
// that the caller shuts it once it lets go of s.mu.
func (s *muxSock) done(i int, late bool) (idle bool) {
	t := &s.tries[i]
	t.m, t.late = nil, late
	s.pending--
	for s.next < len(s.tries) && s.tries[s.next].m == nil {
		s.next++
	}
	return s.retired && s.pending == 0
}

// take removes m from s's pending queries and says whether it was there:
// whoever takes it finishes it. A retired socket with nothing left pending
// is closed.
func (s *muxSock) take(m *fastMiss) bool {
	s.mu.Lock()
	ok := !s.dead && s.tries[m.try].m == m
	idle := ok && s.done(m.try, false)
	s.mu.Unlock()
	if idle {
		s.shut()
	}
	return ok
}

// expire ends, when the socket's timer fires, every try whose end has come,
// and sets the timer for the next one.
func (s *muxSock) expire() {
	var ended []*fastMiss
	s.mu.Lock()
	now := time.Now()
	s.armed = false
	idle := false
	for !s.dead && s.next < len(s.tries) && !s.tries[s.next].end.After(now) {
		ended = append(ended, s.tries[s.next].m)
		idle = s.done(s.next, true)
	}
	if !s.dead && s.next < len(s.tries) {
		s.armed = true
		s.timer.Reset(s.tries[s.next].end.Sub(now))
	}
	s.mu.Unlock()
	if idle {
		s.shut()
	}
	for _, m := range ended {
		m.tried(reply{}, timeoutError(s.conn))
	}
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
		if n < dnscache.HeaderLen {
			s.m.u.mismatched.Add(1)
			continue
		}
		s.mu.Lock()
		i := s.find(be16(buf))
		var m *fastMiss
		var r reply
		ok := i >= 0
		if ok {
			if m = s.tries[i].m; m != nil {
				r, ok = m.accept(buf[:n])
			} else {
				ok = false
			}
		}
		if !ok {
			// A late answer to a query that timed out is dropped, as the
			// full path drops it by closing the try's socket.
			late := i >= 0 && m == nil && s.tries[i].late
			s.mu.Unlock()
			if !late {
				s.m.u.mismatched.Add(1)
			}
			continue
		}
		idle := s.done(i, false)
		s.mu.Unlock()
		m.tried(r, nil)
		if idle {
			s.shut()
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
	var pending []*fastMiss
	s.mu.Lock()
	s.dead = true
	for i := s.next; i < len(s.tries); i++ {
		if m := s.tries[i].m; m != nil {
			pending = append(pending, m)
			s.tries[i].m = nil
		}
	}
	s.pending = 0
	s.mu.Unlock()
	s.shut()
	for _, m := range pending {
		m.tried(reply{}, err)
	}
}

// timeoutError is a try that got no answer before its end, worded as a
// socket's read deadline is.
func timeoutError(c net.Conn) error {
	return &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
}
