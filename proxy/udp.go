package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// udpServer serves one UDP socket. Its readers, one per CPU, take each
// query through the request path up to the cache (serve.go), so that a hit
// is answered from the reader itself, without a goroutine or an
// allocation; a query that goes upstream is handed to a worker. Workers
// live on between queries (idle for workerIdle at most), so their stacks
// have already grown.
//
// A socket bound to a wildcard address (0.0.0.0, ::) answers each query
// from the address it came to, which it reads from the packet's control
// message (pktinfo.go).
type udpServer struct {
	s       *Server
	conn    *net.UDPConn
	pktinfo bool          // bound to a wildcard address
	quit    chan struct{} // closed once the readers are gone: idle workers leave
	closing atomic.Bool
	readers sync.WaitGroup
	workers sync.WaitGroup

	// idle holds the channels of the workers waiting for a query, the one
	// that went idle last at the end. Each is buffered, so that handing a
	// query over never blocks. Queries go to the last, so that after a
	// burst the workers it needed beyond the steady load go unused and leave
	// after workerIdle.
	mu   sync.Mutex // guards idle
	idle []chan *query
}

// workerIdle is how long a worker waits for another query before leaving.
const workerIdle = 10 * time.Second

// maxQuerySize is the largest UDP query read whole.
const maxQuerySize = 4096

func newUDPServer(s *Server, conn *net.UDPConn, pktinfo bool) (*udpServer, error) {
	if pktinfo {
		if err := setPktinfo(conn); err != nil {
			return nil, err
		}
	}
	return &udpServer{s: s, conn: conn, pktinfo: pktinfo, quit: make(chan struct{})}, nil
}

// start runs a reader per CPU: reads on one socket take turns, but one
// reader's write overlaps another's read.
func (u *udpServer) start() {
	for range runtime.GOMAXPROCS(0) {
		u.readers.Add(1)
		go u.read()
	}
}

func (u *udpServer) read() {
	defer u.readers.Done()
	in := make([]byte, maxQuerySize)
	var oob []byte
	if u.pktinfo {
		oob = make([]byte, oobSize)
	}
	q := &query{udp: u, proto: "udp"}
	var backoff time.Duration
	for {
		n, from, dst, err := u.receive(in, oob)
		if err != nil {
			if u.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Not expected from an unconnected UDP socket; keep serving, as
			// miekg/dns's server does, without spinning on a lasting error.
			backoff = min(max(2*backoff, time.Millisecond), time.Second)
			u.s.log.Error("reading UDP query", "error", err.Error(), "retry_in_ms", backoff.Milliseconds())
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		u.handle(q, in[:n], from, dst)
	}
}

// handle takes the packet pkt from the client at from, sent to dst, through
// the request path up to the cache, reading it into q, and hands it to a
// worker if it goes upstream, which it says.
func (u *udpServer) handle(q *query, pkt []byte, from netip.AddrPort, dst netip.Addr) (forwarded bool) {
	*q = query{udp: u, proto: "udp", to: from, dst: dst, client: from.Addr().Unmap(), pkt: pkt,
		start: u.s.cfg.Now(), rt: u.s.route.Load()}
	if !q.read(u.s.cfg.MaxUDPSize) || !u.s.admit(q) || u.s.fromCache(q) {
		return false
	}
	u.dispatch(q.clone())
	return true
}

// receive reads the next packet, and with pktinfo the address it came to.
func (u *udpServer) receive(in, oob []byte) (int, netip.AddrPort, netip.Addr, error) {
	if !u.pktinfo {
		n, from, err := u.conn.ReadFromUDPAddrPort(in)
		return n, from, netip.Addr{}, err
	}
	n, oobn, _, from, err := u.conn.ReadMsgUDPAddrPort(in, oob)
	return n, from, dstOf(oob[:oobn]), err
}

// write sends b to the client at to, from dst if the socket is a wildcard.
func (u *udpServer) write(b []byte, to netip.AddrPort, dst netip.Addr) error {
	if !u.pktinfo || !dst.IsValid() {
		_, err := u.conn.WriteToUDPAddrPort(b, to)
		return err
	}
	_, _, err := u.conn.WriteMsgUDPAddrPort(b, srcOOB(dst), to)
	return err
}

// dispatch hands q to the worker that went idle last, or starts one.
func (u *udpServer) dispatch(q *query) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		w := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		w <- q
	} else {
		u.mu.Unlock()
		u.workers.Add(1)
		go u.worker(q)
	}
	// Let the worker send its query upstream now, not when this reader next
	// finds the socket empty: under a stream of cache hits that can be a
	// whole time slice away, and misses would pile up, each on a goroutine.
	runtime.Gosched()
}

func (u *udpServer) worker(q *query) {
	defer u.workers.Done()
	jobs := make(chan *query, 1)
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	for {
		u.s.forward(q)
		u.mu.Lock()
		u.idle = append(u.idle, jobs)
		u.mu.Unlock()
		timer.Reset(workerIdle)
		select {
		case q = <-jobs:
			continue
		case <-timer.C:
		case <-u.quit:
		}
		if !u.leave(jobs) {
			q = <-jobs // a reader took this worker just now: its query is on the way
			continue
		}
		return
	}
}

// leave takes the worker of jobs off the idle stack, or says false if a
// reader has taken it already.
func (u *udpServer) leave(jobs chan *query) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, w := range u.idle {
		if w == jobs {
			u.idle = append(u.idle[:i], u.idle[i+1:]...)
			return true
		}
	}
	return false
}

// shutdown stops reading, lets workers finish their queries until ctx
// ends, then closes the socket. It returns ctx's error if it ended first,
// after the workers, whose upstream queries the server cancels then, are
// gone too.
func (u *udpServer) shutdown(ctx context.Context) error {
	u.closing.Store(true)
	u.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the readers
	u.readers.Wait()
	close(u.quit)
	done := make(chan struct{})
	go func() { u.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	u.conn.Close()
	<-done
	return err
}
