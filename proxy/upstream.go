package proxy

import (
	"bytes"
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
	// mx is the socket the fast miss path shares (mux.go).
	mx *mux

	idleMu sync.Mutex // guards idle and closed
	idle   []net.Conn // connected UDP sockets free for the next query
	closed bool
}

func (u *upstream) mux() *mux { return u.mx }

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

// outPool holds buffers for answers on their way to a client. They are
// small: most answers fit, and a TCP write that waits on a slow client
// holds its query's buffer all the while.
var outPool = sync.Pool{New: func() any { b := make([]byte, outSize); return &b }}

const outSize = 4096

// outBuf returns a buffer of length n, from outPool when n fits; putOut
// gives it back.
func outBuf(n int) *[]byte {
	if n > outSize {
		b := make([]byte, n)
		return &b
	}
	bp := outPool.Get().(*[]byte)
	*bp = (*bp)[:n]
	return bp
}

// writeMsg packs m into a buffer from outPool (PackBuffer makes a bigger
// one if it must) and writes it to w.
func writeMsg(w dns.ResponseWriter, m *dns.Msg) error {
	bp := outBuf(outSize)
	defer putOut(bp)
	b, err := m.PackBuffer(*bp)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func putOut(bp *[]byte) {
	if cap(*bp) == outSize {
		*bp = (*bp)[:outSize]
		outPool.Put(bp)
	}
}

// reply is an upstream's answer: unpacked, or, when it is plain enough to
// serve as it came (plainAnswer), its bytes, which the holder owns, and
// their layout.
type reply struct {
	msg *dns.Msg
	raw []byte
	lay layout
}

func (r reply) ok() bool { return r.msg != nil || r.raw != nil }

func (r reply) rcode() int {
	if r.msg != nil {
		return r.msg.Rcode
	}
	return int(r.raw[3] & 0xF)
}

// unpack makes r's message from its bytes, if it has none.
func (r *reply) unpack() error {
	if r.msg != nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(r.raw); err != nil {
		return err
	}
	r.msg, r.raw = m, nil
	return nil
}

// exchange sends the packed query q (ID id, question qs) and returns the
// answer, retrying over TCP when the UDP answer is truncated. It gives up at
// deadline, when u is interrupted, and, if watch is set, as soon as ctx is
// done (a parallel race lost). ctx's error, if any, is the failure's reason.
func (u *upstream) exchange(ctx context.Context, watch bool, q []byte, id uint16, qs dns.Question, deadline time.Time) (reply, error) {
	if u.Net == "tcp" {
		return u.exchangeOnce(ctx, watch, "tcp", q, id, qs, deadline)
	}
	r, err := u.exchangeOnce(ctx, watch, "udp", q, id, qs, deadline)
	if err == nil && r.msg != nil && r.msg.Truncated {
		return u.exchangeOnce(ctx, watch, "tcp", q, id, qs, deadline)
	}
	return r, err
}

func (u *upstream) exchangeOnce(ctx context.Context, watch bool, network string, q []byte, id uint16, qs dns.Question, deadline time.Time) (r reply, err error) {
	// The deadline goes on the socket (dial sets it), not into a context
	// of the try's own: a context per try costs a timer and a registration
	// with its parent on every forwarded query.
	conn, err := u.dial(ctx, network, deadline)
	if err != nil {
		return reply{}, ctxErr(ctx, err)
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
		return reply{}, ctxErr(ctx, err)
	}
	for {
		n, err := readMsg(conn, network, buf)
		if err != nil {
			return reply{}, ctxErr(ctx, err)
		}
		if l, ok := plainAnswer(buf[:n], q); ok {
			return reply{raw: bytes.Clone(buf[:n]), lay: l}, nil
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil || !matches(m, id, qs) {
			// Spoofed, late or broken: drop it and keep listening until the
			// deadline, as a stub resolver does.
			u.mismatched.Add(1)
			continue
		}
		return reply{msg: m}, nil
	}
}

// plainAnswer says whether b is an answer to the packed query q that needs
// no unpacking to be cached and served, and gives its layout: q's ID and question (names compared
// without case), NOERROR or NXDOMAIN, not truncated, every name and record
// well formed and of a common type (scan, strict), nothing after them, and
// no OPT record but one in the additional section, of version 0 and without
// options, present if q has one. Most answers are; the rest are unpacked,
// and ServeDNS treats them as before.
func plainAnswer(b, q []byte) (layout, bool) {
	if len(b) < headerLen || len(q) < headerLen || b[0] != q[0] || b[1] != q[1] ||
		b[2]&0xFA != 0x80 || (b[3]&0xF != dns.RcodeSuccess && b[3]&0xF != dns.RcodeNameError) || // QR, QUERY, no TC
		binary.BigEndian.Uint16(b[4:]) != 1 {
		return layout{}, false
	}
	qend, err := skipName(q, headerLen)
	if err != nil || qend+4 > len(q) || len(b) < qend+4 || !equalFold(b[headerLen:qend], q[headerLen:qend]) ||
		!bytes.Equal(b[qend:qend+4], q[qend:qend+4]) {
		return layout{}, false
	}
	l, err := scan(b, true)
	if err != nil || l.end != len(b) || l.opts > 1 {
		return layout{}, false
	}
	if l.opt < 0 {
		return l, binary.BigEndian.Uint16(q[10:]) == 0 // the query had no OPT either
	}
	o := l.opt // the owner (root), type, UDP size, extended RCODE, version, flags, RDLENGTH 0
	return l, l.optLast && o+11 <= len(b) && b[o] == 0 && b[o+5] == 0 && b[o+6] == 0 && b[o+9] == 0 && b[o+10] == 0
}

// equalFold compares packed names, ASCII letters without case (a label's
// length, at most 63, is never a letter).
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
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
