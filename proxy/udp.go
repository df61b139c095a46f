package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
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
// answer cache hits themselves (serveUDPHit); every other query goes to a
// worker, which unpacks it and calls ServeDNS. Unlike miekg/dns's server it
// starts no goroutine per query: workers live on between queries (idle for
// workerIdle at most), so their stacks have already grown.
//
// A socket bound to a wildcard address needs each query's destination
// address to answer from it, which miekg/dns reads from control messages;
// such sockets are served by a dns.Server instead.
type udpServer struct {
	s       *Server
	conn    *net.UDPConn
	work    chan udpJob   // unbuffered: a query handed to an idle worker
	quit    chan struct{} // closed once the readers are gone: idle workers leave
	closing atomic.Bool
	readers sync.WaitGroup
	workers sync.WaitGroup
}

// udpJob is one query for the full path; pkt is the worker's own copy.
type udpJob struct {
	pkt  []byte
	from netip.AddrPort
}

// workerIdle is how long a worker waits for another query before leaving.
const workerIdle = 10 * time.Second

func newUDPServer(s *Server, conn *net.UDPConn) *udpServer {
	return &udpServer{s: s, conn: conn, work: make(chan udpJob), quit: make(chan struct{})}
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
	sc := &udpScratch{out: make([]byte, 0, maxUDPSize)}
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if !u.closing.Load() && !errors.Is(err, net.ErrClosed) {
				u.s.log.Error("listener stopped", "error", err.Error())
			}
			return
		}
		if u.s.serveUDPHit(u.conn, in[:n], from, sc) {
			continue
		}
		u.dispatch(udpJob{pkt: bytes.Clone(in[:n]), from: from})
	}
}

// dispatch hands j to an idle worker, or starts one.
func (u *udpServer) dispatch(j udpJob) {
	select {
	case u.work <- j:
	default:
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
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		u.serve(j)
		idle.Reset(workerIdle)
		select {
		case j = <-u.work:
		case <-idle.C:
			return
		case <-u.quit:
			return
		}
	}
}

// serve answers one query the full way, with miekg/dns's server's rules for
// what is not a query it accepts: responses and runts get no answer (any
// answer could be used for amplification), other opcodes NOTIMP, more
// records than a query has or an unpacking error FORMERR.
func (u *udpServer) serve(j udpJob) {
	w := &udpWriter{conn: u.conn, to: j.from}
	b := j.pkt
	if len(b) < headerLen || b[2]&0x80 != 0 {
		return
	}
	opcode := int(b[2]>>3) & 0xF
	if opcode != dns.OpcodeQuery && opcode != dns.OpcodeNotify {
		w.WriteMsg(rejection(b, dns.RcodeNotImplemented, opcode))
		return
	}
	if be16(b[4:]) != 1 || be16(b[6:]) > 1 || be16(b[8:]) > 1 || be16(b[10:]) > 2 {
		w.WriteMsg(rejection(b, dns.RcodeFormatError, dns.OpcodeQuery))
		return
	}
	req := new(dns.Msg)
	if err := req.Unpack(b); err != nil {
		w.WriteMsg(rejection(b, dns.RcodeFormatError, dns.OpcodeQuery))
		return
	}
	u.s.ServeDNS(w, req)
}

// rejection is a bare answer to the packed query b: its ID, RD and CD bits,
// and rcode.
func rejection(b []byte, rcode, opcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Id = binary.BigEndian.Uint16(b)
	m.Response = true
	m.Opcode = opcode
	m.RecursionDesired = b[2]&0x01 != 0
	m.CheckingDisabled = b[3]&0x10 != 0
	m.Rcode = rcode
	return m
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

func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Write(b []byte) (int, error) { return w.conn.WriteToUDPAddrPort(b, w.to) }
func (w *udpWriter) Close() error                { return nil }
func (w *udpWriter) TsigStatus() error           { return nil }
func (w *udpWriter) TsigTimersOnly(bool)         {}
func (w *udpWriter) Hijack()                     {}
