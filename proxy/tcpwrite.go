package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// What one TCP connection may cost. Its reader reads a query only while
// the connection owes its client at most tcpBudget bytes, and starts it
// only once the query's reservation fits (admit). The reader answers a
// cache hit itself: that answer is owed as soon as it is made, and the
// reader reads on only once the kernel has taken it or it is queued within
// the budget. A query that goes upstream reserves its own length and
// tcpGuess for its answer. Once made, the answer is owed
// as it is until the kernel has taken it: the goroutine that finds no one
// writing writes it, then whatever was queued meanwhile; the others queue
// a copy and end (send). So one goroutine at most waits on a client that
// does not read, and such a client costs nxray, per connection:
//
//   - the bytes owed: at most tcpBudget, or one query and its answer
//     (128 KiB) admitted alone when nothing was owed; in buffers, at most
//     twice that, as the queue grows by doubling, and tcpKeep;
//   - the writing goroutine's own answer, up to 64 KiB, which its caller
//     holds until the goroutine is done writing;
//   - answers from upstreams larger than expected: expected to take
//     tcpGuess bytes and taking up to 64 KiB. Only queries in flight when
//     the client stopped reading can overrun so, at most maxTCPQueries of
//     them, once: past the budget the reader admits nothing;
//   - a 4 KiB read buffer, one query read and waiting for room, and two
//     goroutines: the reader and the one writing.
//
// A client that never reads loses the connection at the write deadline,
// the idle timeout (write).

// tcpBudget is what a connection may owe before its reader waits. It is
// enough for a client that reads at full speed: a hundred typical answers
// of ~500 bytes fit, so that a pipelining client's answers go out in
// batches, as do maxTCPQueries queries expected at tcpGuess, and an answer
// of any size goes out, alone if it must. More buys little speed, as the
// kernel's buffers take over from it (128 KiB measured no faster), and
// costs memory for every client that does not read: at 64 KiB, 256
// connections owe 16 MiB.
const tcpBudget = 64 << 10

// tcpGuess is the room expected for an answer not in the cache: the
// classic message size (RFC 1035 4.2.1), which most answers fit.
const tcpGuess = 512

// tcpKeep is the largest buffer a connection keeps for the next batch, so
// that an idle one holds no more than two such.
const tcpKeep = 4096

var errTCPBroken = errors.New("an earlier write on the connection failed")

// admit waits until the connection has room: fewer than maxTCPQueries
// queries in flight and, for w, its reservation within the budget or
// nothing owed at all (an answer larger than the budget goes out alone).
// It then counts w's query in flight and its reservation owed. With w nil,
// it waits for the budget not to be exceeded: the reader reads no further
// while it is. It says whether to go on: not once shutdown has begun or a
// write has failed.
func (c *tcpConn) admit(w *tcpWriter) bool {
	need := 0
	if w != nil {
		need = w.query + w.answer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.stopped && !c.broken && (c.inflight >= maxTCPQueries || (c.owed > 0 && c.owed+need > tcpBudget)) {
		c.changed.Wait()
	}
	if c.stopped || c.broken {
		return false
	}
	if w != nil {
		c.inflight++
		c.owed += need
		c.lastActive = time.Now()
	}
	return true
}

// send writes the answer b behind its length, whole. Unless another
// goroutine is writing already, it writes b itself, without a copy, and
// then the answers queued meanwhile; else it queues a copy of b and
// returns, and its goroutine can end.
func (c *tcpConn) send(w *tcpWriter, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return errTCPBroken
	}
	n := 2 + len(b)
	c.owed += n - w.answer // owed at its real size, not the size expected
	w.answer = 0
	if c.writing {
		c.out = binary.BigEndian.AppendUint16(c.out, uint16(len(b)))
		c.out = append(c.out, b...)
		return nil
	}
	c.writing = true // and the queue is empty: the last writer emptied it
	defer func() { c.writing = false }()
	var length [2]byte
	binary.BigEndian.PutUint16(length[:], uint16(len(b)))
	if err := c.write(net.Buffers{length[:], b}, n); err != nil {
		return err
	}
	for len(c.out) > 0 {
		batch := c.out
		c.out, c.spare = c.spare, nil
		if err := c.write(net.Buffers{batch}, len(batch)); err != nil {
			return err
		}
		if cap(batch) <= tcpKeep {
			c.spare = batch[:0]
		}
	}
	return nil
}

// write writes the n bytes of bufs, with writev. It is
// called with c.mu held and returns with it held; it lets go of it while
// it writes, so that answers queue up meanwhile and go out together in the
// next write. A client that does not take them within the idle timeout
// loses the connection, as does any failed write; its place under the caps
// is given back when serve ends, once its queries are done.
func (c *tcpConn) write(bufs net.Buffers, n int) error {
	c.mu.Unlock()
	c.sock.SetWriteDeadline(time.Now().Add(c.t.s.cfg.TCPIdleTimeout))
	_, err := bufs.WriteTo(c.sock)
	c.mu.Lock()
	c.owed -= n
	c.lastActive = time.Now()
	c.changed.Signal() // only the reader waits
	if err != nil {
		c.broken = true
		c.owed -= len(c.out)
		c.out = nil
		c.sock.Close() // the reader's next read fails: it stops
	}
	return err
}

// tcpWriter writes the answer of one query on a TCP connection, and holds
// what its query has reserved of the connection's budget.
type tcpWriter struct {
	c      *tcpConn
	query  int // the query's length: owed until its goroutine ends
	answer int // the room expected for its answer: owed until the answer is queued
}

// Write queues the packed message b behind its length; b is the caller's
// again once Write returns.
func (w *tcpWriter) Write(b []byte) (int, error) {
	if len(b) > dns.MaxMsgSize {
		return 0, fmt.Errorf("%d-byte message: too long for TCP", len(b))
	}
	if err := w.c.send(w, b); err != nil {
		return 0, err
	}
	return len(b), nil
}
