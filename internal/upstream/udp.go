package upstream

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// udpTransport sends queries to one upstream on a few shared UDP sockets,
// as dnsdist does: each socket's responder goroutine reads the answers and
// hands each one to the query it answers, by ID and question, so that no
// socket is dialed and no read is armed per query.
//
// A socket takes sockUses queries, or sockPending at once, then a new one
// (with a new random source port) takes over its slot; the old one closes
// once its last query is done. So a spoofer still has to guess the port as
// well as the ID (RFC 5452); and no more answers can arrive at once on one
// socket than its receive buffer holds (sockReadBuffer, or the system's
// default of 208 KiB: 64 answers of 1232 bytes fit).
type udpTransport struct {
	addr       string
	to         *net.UDPAddr // addr parsed once; nil if it is a name
	mismatched *atomic.Uint64
	next       atomic.Uint32 // the slot the next query takes

	mu     sync.Mutex // guards cur and closed
	cur    []*udpSock // by slot; nil until a query needs one
	closed bool
}

const (
	// sockUses is how many queries one socket carries in all.
	sockUses = 256
	// sockPending is how many queries one socket carries at once.
	sockPending = 64
	// sockReadBuffer is the receive buffer asked for each socket; the
	// system may cap it (net.core.rmem_max).
	sockReadBuffer = 1 << 20
)

// NewUDP returns the UDP transport to addr (IP:port); mismatched counts
// the answers it drops.
func NewUDP(addr string, mismatched *atomic.Uint64) Transport {
	t := &udpTransport{addr: addr, mismatched: mismatched, cur: make([]*udpSock, runtime.GOMAXPROCS(0))}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		t.to = net.UDPAddrFromAddrPort(ap)
	}
	return t
}

// udpSock is one of a transport's sockets.
type udpSock struct {
	t    *udpTransport
	slot int
	conn *net.UDPConn

	mu      sync.Mutex // guards the rest
	waiting map[uint16]*waiter
	late    map[uint16]bool // IDs of queries that gave up waiting: an answer to one is no mismatch
	uses    int
	retired bool  // takes no more queries; closes once none is waiting
	err     error // the responder has stopped on it
}

// waiter is one query waiting on a socket for its answer.
type waiter struct {
	q    []byte
	done chan result // buffered: the responder never blocks on it
}

type result struct {
	b   []byte
	err error
}

var waiters = sync.Pool{New: func() any { return &waiter{done: make(chan result, 1)} }}

var timers = sync.Pool{New: func() any { t := time.NewTimer(time.Hour); t.Stop(); return t }}

func (t *udpTransport) Exchange(ctx context.Context, q []byte, deadline time.Time) ([]byte, error) {
	w := waiters.Get().(*waiter)
	w.q = q
	s, err := t.register(w)
	if err != nil {
		w.q = nil
		waiters.Put(w)
		return nil, err
	}
	id := binary.BigEndian.Uint16(q)
	if _, err := s.conn.Write(q); err != nil {
		return s.giveUp(w, id, err, false)
	}
	timer := timers.Get().(*time.Timer)
	timer.Reset(time.Until(deadline))
	var r result
	var gaveUp error
	select {
	case r = <-w.done:
	case <-timer.C:
		gaveUp = timeoutError(s.conn)
	case <-ctx.Done():
		gaveUp = ctx.Err()
	}
	timer.Stop()
	timers.Put(timer)
	if gaveUp != nil {
		return s.giveUp(w, id, gaveUp, true)
	}
	w.q = nil
	waiters.Put(w)
	return r.b, r.err
}

// register puts w on the current socket of the next slot under an ID no
// other query on it has, which it writes into w.q.
func (t *udpTransport) register(w *waiter) (*udpSock, error) {
	slot := int(t.next.Add(1)) % len(t.cur)
	for range 3 {
		s, err := t.socket(slot)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.err != nil || s.retired {
			// Retired by another query, or failed, since socket() gave it out.
			s.mu.Unlock()
			continue
		}
		id := randomID()
		for s.waiting[id] != nil || s.late[id] {
			id = randomID()
		}
		binary.BigEndian.PutUint16(w.q, id)
		s.waiting[id] = w
		s.uses++
		if s.uses >= sockUses || len(s.waiting) >= sockPending {
			s.retire()
		}
		s.mu.Unlock()
		return s, nil
	}
	return nil, errClosed
}

// retire takes s out of its slot; called with s.mu held.
func (s *udpSock) retire() {
	s.retired = true
	s.t.mu.Lock()
	if s.t.cur[s.slot] == s {
		s.t.cur[s.slot] = nil
	}
	s.t.mu.Unlock()
}

// giveUp takes w off s after err: its answer will not come, or no longer
// matters. If the responder handed it an answer meanwhile, that is
// returned. late notes that an answer may still come.
func (s *udpSock) giveUp(w *waiter, id uint16, err error, late bool) ([]byte, error) {
	s.mu.Lock()
	mine := s.waiting[id] == w
	if mine {
		delete(s.waiting, id)
		if late {
			s.late[id] = true
		}
	}
	idle := s.retired && len(s.waiting) == 0
	s.mu.Unlock()
	if idle {
		s.conn.Close() // the responder leaves
	}
	r := result{err: err}
	if !mine {
		r = <-w.done
	}
	w.q = nil
	waiters.Put(w)
	return r.b, r.err
}

// socket returns slot's current socket, dialing one if there is none.
func (t *udpTransport) socket(slot int) (*udpSock, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	if s := t.cur[slot]; s != nil {
		return s, nil
	}
	var c net.Conn
	var err error
	if t.to != nil {
		c, err = net.DialUDP("udp", nil, t.to) // no address to resolve
	} else {
		c, err = net.Dial("udp", t.addr)
	}
	if err != nil {
		return nil, err
	}
	conn := c.(*net.UDPConn)
	conn.SetReadBuffer(sockReadBuffer) // best effort
	s := &udpSock{t: t, slot: slot, conn: conn, waiting: make(map[uint16]*waiter, sockPending), late: make(map[uint16]bool)}
	t.cur[slot] = s
	go s.respond()
	return s, nil
}

// Close retires every socket: queries waiting finish.
func (t *udpTransport) Close() {
	t.mu.Lock()
	cur := append([]*udpSock(nil), t.cur...)
	clear(t.cur)
	t.closed = true
	t.mu.Unlock()
	for _, s := range cur {
		if s == nil {
			continue
		}
		s.mu.Lock()
		s.retired = true
		idle := len(s.waiting) == 0
		s.mu.Unlock()
		if idle {
			s.conn.Close()
		}
	}
}

// respond reads answers until the socket closes or fails, handing each to
// the query it answers. Anything else is counted and dropped.
func (s *udpSock) respond() {
	buf := make([]byte, 65535)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.fail(err)
			return
		}
		if n < 2 {
			s.t.mismatched.Add(1)
			continue
		}
		id := binary.BigEndian.Uint16(buf)
		s.mu.Lock()
		w := s.waiting[id]
		if w == nil || !Matches(buf[:n], w.q) {
			late := w == nil && s.late[id]
			s.mu.Unlock()
			if !late {
				s.t.mismatched.Add(1)
			}
			continue
		}
		delete(s.waiting, id)
		idle := s.retired && len(s.waiting) == 0
		s.mu.Unlock()
		w.done <- result{b: bytes.Clone(buf[:n])}
		if idle {
			s.conn.Close()
			return
		}
	}
}

// fail ends every query waiting on s with err and takes s out of its slot.
func (s *udpSock) fail(err error) {
	if errors.Is(err, net.ErrClosed) {
		err = errClosed
	}
	s.mu.Lock()
	s.err = err
	if !s.retired {
		s.retire()
	}
	waiting := s.waiting
	s.waiting = map[uint16]*waiter{}
	s.mu.Unlock()
	s.conn.Close()
	for _, w := range waiting {
		w.done <- result{err: err}
	}
}

// timeoutError is a try that got no answer before its end, worded as a
// socket's read deadline is.
func timeoutError(c net.Conn) error {
	return &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
}

// randomID is a query ID from the system's CSPRNG (RFC 5452 section 9.2),
// as dns.Id is, without its allocation.
func randomID() uint16 {
	var b [2]byte
	crand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}
