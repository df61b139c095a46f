package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

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
	down    atomic.Bool // failing (health.go); the health probe clears it
	probing atomic.Bool // a health probe is in flight
	// failing says fails > 0, so that an answer costs a lock only when
	// there is a count to reset.
	failing  atomic.Bool
	healthMu sync.Mutex // guards fails and lastFail
	fails    int        // questions whose tries failed since the last answer
	lastFail string     // the question of the last failure counted
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

var bufPool = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// reply is an upstream's answer: unpacked, or, when it is plain enough to
// serve as it came (plainAnswer), its bytes, which the holder owns, and
// their dnscache.Layout.
type reply struct {
	msg *dns.Msg
	raw []byte
	lay dnscache.Layout
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
// answer, after the retries settle makes. It gives up at deadline, when u is
// interrupted, and, if watch is set, as soon as ctx is done (a parallel race
// lost). ctx's error, if any, is the failure's reason.
func (u *upstream) exchange(ctx context.Context, watch bool, q []byte, id uint16, qs dns.Question, deadline time.Time) (reply, error) {
	r, err := u.exchangeOnce(ctx, watch, u.Net, q, id, qs, deadline)
	return u.settle(ctx, watch, u.Net, q, id, qs, deadline, r, err)
}

// settle takes the answer r (or err) to q over network and asks again
// where the answer says to: over TCP when the UDP answer is truncated, and
// without EDNS, once, when the upstream answered the EDNS query FORMERR with
// no OPT record, as a server that predates EDNS does (RFC 6891 section 7).
func (u *upstream) settle(ctx context.Context, watch bool, network string, q []byte, id uint16, qs dns.Question, deadline time.Time, r reply, err error) (reply, error) {
	if err != nil || r.msg == nil {
		return r, err
	}
	if r.msg.Truncated && network == "udp" {
		network = "tcp"
		if r, err = u.exchangeOnce(ctx, watch, network, q, id, qs, deadline); err != nil || r.msg == nil {
			return r, err
		}
	}
	if r.msg.Rcode == dns.RcodeFormatError && r.msg.IsEdns0() == nil && binary.BigEndian.Uint16(q[10:]) > 0 {
		if plain, ok := withoutOPT(q); ok {
			r, err = u.exchangeOnce(ctx, watch, network, plain, id, qs, deadline)
			return u.settle(ctx, watch, network, plain, id, qs, deadline, r, err) // no OPT: no further retry
		}
	}
	return r, err
}

// withoutOPT is the packed query q (upstreamQuery's: a question, then its
// OPT record) without the OPT record.
func withoutOPT(q []byte) ([]byte, bool) {
	end, err := dnscache.SkipName(q, dnscache.HeaderLen)
	if err != nil || end+4 > len(q) {
		return nil, false
	}
	out := bytes.Clone(q[:end+4])
	binary.BigEndian.PutUint16(out[10:], 0)
	return out, true
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
		if l, ok := dnscache.PlainAnswer(buf[:n], q); ok {
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
