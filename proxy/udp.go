package proxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpServer serves one UDP socket bound to a specific address. Its readers
// answer cache hits themselves (serveUDPHit) and send plain misses upstream
// (startMiss);
// every other query goes to a worker, which unpacks it and calls ServeDNS. Unlike miekg/dns's server it
// starts no goroutine per query: workers live on between queries (idle for
// workerIdle at most), so their stacks have already grown.
//
// A socket bound to a wildcard address needs each query's destination
// address to answer from it, which miekg/dns reads from control messages;
// such sockets are served by a dns.Server instead.
type udpServer struct {
	s       *Server
	conn    *net.UDPConn
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
	idle []chan udpJob
}

// udpJob is one query for the full path; pkt is the worker's own copy.
type udpJob struct {
	pkt  []byte
	from netip.AddrPort
}

// workerIdle is how long a worker waits for another query before leaving.
const workerIdle = 10 * time.Second

func newUDPServer(s *Server, conn *net.UDPConn) *udpServer {
	return &udpServer{s: s, conn: conn, quit: make(chan struct{})}
}

// start runs a reader per CPU: reads on one socket take turns, but one
// reader's write overlaps another's read.
func (u *udpServer) start() {
	for i := range runtime.GOMAXPROCS(0) {
		u.readers.Add(1)
		go u.read(i)
	}
}

func (u *udpServer) read(slot int) {
	defer u.readers.Done()
	in := make([]byte, maxQuerySize)
	sc := &udpScratch{out: make([]byte, 0, maxUDPSize), slot: slot}
	var backoff time.Duration
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(in)
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
		switch u.s.serveUDPHit(u.conn, in[:n], from, sc) {
		case udpHit:
			continue
		case udpMiss:
			if u.s.startMiss(u, in[:n], from, sc) {
				continue
			}
		}
		u.dispatch(udpJob{pkt: bytes.Clone(in[:n]), from: from})
	}
}

// dispatch hands j to the worker that went idle last, or starts one.
func (u *udpServer) dispatch(j udpJob) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		w := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		w <- j
	} else {
		u.mu.Unlock()
		u.workers.Add(1)
		go u.worker(j)
	}
	// Let the worker send its query upstream now, not when this reader next
	// finds the socket empty: under a stream of cache hits that can be a
	// whole time slice away, and misses would pile up, each on a goroutine.
	runtime.Gosched()
}

func (u *udpServer) worker(j udpJob) {
	defer u.workers.Done()
	jobs := make(chan udpJob, 1)
	timer := time.NewTimer(workerIdle)
	defer timer.Stop()
	for {
		u.serve(j)
		u.mu.Lock()
		u.idle = append(u.idle, jobs)
		u.mu.Unlock()
		timer.Reset(workerIdle)
		select {
		case j = <-jobs:
			continue
		case <-timer.C:
		case <-u.quit:
		}
		if !u.leave(jobs) {
			j = <-jobs // a reader took this worker just now: its query is on the way
			continue
		}
		return
	}
}

// leave takes the worker of jobs off the idle stack, or says false if a
// reader has taken it already.
func (u *udpServer) leave(jobs chan udpJob) bool {
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

// serve answers one query the full way.
func (u *udpServer) serve(j udpJob) {
	u.s.serveWire(&udpWriter{conn: u.conn, to: j.from}, j.pkt)
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

// udpWriter is the dns.ResponseWriter of one query on a udpServer. It is
// used by one goroutine.
type udpWriter struct {
	conn   *net.UDPConn
	to     netip.AddrPort
	remote *net.UDPAddr // made on first use
}

var _ dns.ResponseWriter = (*udpWriter)(nil)

func (w *udpWriter) LocalAddr() net.Addr { return w.conn.LocalAddr() }

func (w *udpWriter) RemoteAddr() net.Addr {
	if w.remote == nil {
		w.remote = net.UDPAddrFromAddrPort(w.to)
	}
	return w.remote
}

func (w *udpWriter) WriteMsg(m *dns.Msg) error { return writeMsg(w, m) }

func (w *udpWriter) Write(b []byte) (int, error) { return w.conn.WriteToUDPAddrPort(b, w.to) }
func (w *udpWriter) Close() error                { return nil }
func (w *udpWriter) TsigStatus() error           { return nil }
func (w *udpWriter) TsigTimersOnly(bool)         {}
func (w *udpWriter) Hijack()                     {}
