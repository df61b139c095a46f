package upstream

import (
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

	"github.com/nxray/nxray/internal/sockopt"
)

// udpTransport sends queries to one upstream on a few shared UDP sockets,
// as dnsdist does: each socket's responder goroutine reads the answers and
// hands each one to the query it answers, by ID and question, so that no
// socket is dialed, no read is armed and no goroutine waits per query
// (Send). Each query's deadline is a timer of its own.
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

	mu      sync.Mutex // guards cur, open and closed
	cur     []*udpSock // by slot; nil until a query needs one
	open    map[*udpSock]struct{}
	closed  bool
	aborted error
}

const (
	// sockUses is how many queries one socket carries in all.
	sockUses = 256
	// sockPending is how many queries one socket carries at once.
	sockPending = 64
	// sockReadBuffer is the receive buffer asked for each socket.
	sockReadBuffer = 1 << 20
)

// errAborted ends the queries in flight when ctx, NewUDP's, ends.
var errAborted = errors.New("interrupted: nxray is shutting down")

// NewUDP returns the UDP transport to addr (IP:port); mismatched counts
// the answers it drops. When ctx ends, every query in flight ends at once
// and no other starts.
func NewUDP(ctx context.Context, addr string, mismatched *atomic.Uint64) *udpTransport {
	t := &udpTransport{addr: addr, mismatched: mismatched, cur: make([]*udpSock, runtime.GOMAXPROCS(0)),
		open: map[*udpSock]struct{}{}}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		t.to = net.UDPAddrFromAddrPort(ap)
	}
	// Left registered after Close: the queries a closed transport still
	// carries (after a reload) must end at shutdown too.
	context.AfterFunc(ctx, t.abort)
	return t
}

// waiter is one query waiting on a socket for its answer; whoever takes it
// off the socket (take) calls done, once.
type waiter struct {
	s     *udpSock
	id    uint16
	q     []byte
	timer *time.Timer
	done  func(r Reply, err error)
}

// Send sends the packed query q and calls done with the first answer that
// matches it and reads (its bytes are done's to keep), or an error at deadline, on
// the socket's responder or the timer's goroutine, never before Send
// returns unless Send fails; then done is not called. q, whose ID Send may
// change, must not change until done is called.
func (t *udpTransport) Send(q []byte, deadline time.Time, done func(r Reply, err error)) error {
	_, err := t.send(q, deadline, done)
	return err
}

func (t *udpTransport) send(q []byte, deadline time.Time, done func(r Reply, err error)) (*waiter, error) {
	w := &waiter{q: q, done: done}
	s, err := t.register(w, deadline)
	if err != nil {
		return nil, err
	}
	if err := s.write(q); err != nil {
		if s.take(w, false) {
			return nil, err
		}
		// Failed or answered meanwhile: done has its outcome.
	}
	return w, nil
}

// Exchange sends q and waits for its answer, until deadline or ctx ends.
func (t *udpTransport) Exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error) {
	ch := make(chan result, 1)
	w, err := t.send(q, deadline, func(r Reply, err error) { ch <- result{r, err} })
	if err != nil {
		return Reply{}, err
	}
	select {
	case r := <-ch:
		return r.r, r.err
	case <-ctx.Done():
		if w.s.take(w, true) {
			return Reply{}, ctx.Err()
		}
		r := <-ch // answered as it gave up
		return r.r, r.err
	}
}

type result struct {
	r   Reply
	err error
}

// register puts w on the current socket of the next slot under an ID no
// other query on it has, which it writes into w.q, and arms its timer for
// deadline.
func (t *udpTransport) register(w *waiter, deadline time.Time) (*udpSock, error) {
	slot := int(t.next.Add(1)) % len(t.cur)
	for range 3 {
		s, once, err := t.socket(slot)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.err != nil || (s.retired && !once) {
			// Retired by another query, or failed, since socket() gave it out.
			s.mu.Unlock()
			continue
		}
		id := randomID()
		for s.waiting[id] != nil || s.late[id] {
			id = randomID()
		}
		binary.BigEndian.PutUint16(w.q, id)
		w.s, w.id = s, id
		// Armed under s.mu, before the query is sent: whoever takes w off
		// s finds its timer set, and stops it.
		w.timer = time.AfterFunc(time.Until(deadline), func() {
			if s.take(w, true) {
				w.done(Reply{}, timeoutError(s.conn))
			}
		})
		s.waiting[id] = w
		s.uses++
		if once || s.uses >= sockUses || len(s.waiting) >= sockPending {
			s.retire()
		}
		s.mu.Unlock()
		return s, nil
	}
	return nil, errClosed
}

// socket returns slot's current socket, dialing one if there is none.
//
// A closed transport (its pool replaced by a reload) still carries the
// tries of the queries it had: each on a socket of its own, which is
// never a slot's and closes once its try is done (once).
func (t *udpTransport) socket(slot int) (s *udpSock, once bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted != nil {
		return nil, false, t.aborted
	}
	if s := t.cur[slot]; s != nil {
		return s, false, nil
	}
	s, err = t.dial(slot)
	if err != nil {
		return nil, false, err
	}
	if !t.closed {
		t.cur[slot] = s
	}
	return s, t.closed, nil
}

// dial opens a socket to the upstream and starts its responder; called
// with t.mu held.
func (t *udpTransport) dial(slot int) (*udpSock, error) {
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
	sockopt.ReadBuffer(conn, sockReadBuffer) // best effort
	s := &udpSock{t: t, slot: slot, conn: conn, waiting: make(map[uint16]*waiter, sockPending), late: make(map[uint16]bool)}
	// Best effort: without them, net's calls do.
	s.rd, _ = sockopt.NewUDP(conn)
	s.wr, _ = sockopt.NewUDP(conn)
	t.open[s] = struct{}{}
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
			s.close()
		}
	}
}

// abort ends every query in flight and fails those that follow: nxray is
// shutting down, and its drain deadline has passed.
func (t *udpTransport) abort() {
	t.mu.Lock()
	t.aborted = errAborted
	open := make([]*udpSock, 0, len(t.open))
	for s := range t.open {
		open = append(open, s)
	}
	t.mu.Unlock()
	for _, s := range open {
		s.conn.SetReadDeadline(time.Unix(1, 0)) // its responder fails every query
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
