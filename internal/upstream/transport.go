package upstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
)

// A Transport carries queries to one upstream over one kind of connection.
// Safe for concurrent use.
type Transport interface {
	// Exchange sends the packed query q and returns the first answer that
	// carries its ID and question (Matches) and reads (read: plain, or
	// unpacked), or an error at deadline or once ctx is done. Anything else
	// that arrives is counted as mismatched and dropped, and the wait goes
	// on, as a stub resolver's does. It may give q another ID, which the
	// answer then carries; q is the caller's again when Exchange returns.
	Exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error)
	// Close lets the tries in flight finish and frees what the transport
	// holds once they have.
	Close()
}

// A Sender is a Transport that can send a query without waiting for its
// answer: done is called with the outcome, on another goroutine, unless
// Send fails. q must not change until then.
type Sender interface {
	Send(q []byte, deadline time.Time, done func(r Reply, err error)) error
}

// Matches says whether b is an answer to the packed query q: its ID and
// question, names compared without case. A server that could not read the
// query may answer an error without the question (RFC 1035 4.1.1), with no
// records in its answer section.
func Matches(b, q []byte) bool {
	if len(b) < dnscache.HeaderLen || len(q) < dnscache.HeaderLen || b[0] != q[0] || b[1] != q[1] || b[2]&0x80 == 0 {
		return false
	}
	switch binary.BigEndian.Uint16(b[4:]) {
	case 0:
		rcode := b[3] & 0xF
		return rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError && binary.BigEndian.Uint16(b[6:]) == 0
	case 1:
	default:
		return false
	}
	qend, err := dnscache.SkipName(q, dnscache.HeaderLen)
	if err != nil || qend+4 > len(q) || qend+4 > len(b) {
		return false
	}
	return dnscache.EqualFold(b[dnscache.HeaderLen:qend], q[dnscache.HeaderLen:qend]) &&
		string(b[qend:qend+4]) == string(q[qend:qend+4])
}

// tcpTransport dials a connection per query (RFC 7766 allows more; nxray
// sends over TCP only what UDP cannot carry).
type tcpTransport struct {
	addr       string
	mismatched *atomic.Uint64
}

// NewTCP returns the TCP transport to addr (IP:port); mismatched counts
// the answers it drops.
func NewTCP(addr string, mismatched *atomic.Uint64) Transport {
	return &tcpTransport{addr: addr, mismatched: mismatched}
}

func (t *tcpTransport) Close() {}

func (t *tcpTransport) Exchange(ctx context.Context, q []byte, deadline time.Time) (Reply, error) {
	d := net.Dialer{Deadline: deadline}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return Reply{}, ctxErr(ctx, err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	out := make([]byte, 2+len(q))
	binary.BigEndian.PutUint16(out, uint16(len(q)))
	copy(out[2:], q)
	if _, err := c.Write(out); err != nil {
		return Reply{}, ctxErr(ctx, err)
	}
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return Reply{}, ctxErr(ctx, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			return Reply{}, ctxErr(ctx, err)
		}
		if Matches(b, q) {
			if r, err := read(b, q); err == nil {
				return r, nil
			}
		}
		// Spoofed, late or broken: drop it and keep reading until the
		// deadline, as a stub resolver does.
		t.mismatched.Add(1)
	}
}

// ctxErr prefers the context's reason (deadline, cancel) over the socket's.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
