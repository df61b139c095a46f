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

	"github.com/nxray/nxray/internal/sockopt"
)

// udpServer serves one UDP socket. Its readers, one per CPU, take each
// query through the request path (serve.go): a hit is answered from the
// reader itself, without a goroutine or an allocation; a miss is sent
// upstream from the reader too, and finished by the upstream transport's
// goroutine when its answer comes, so that no goroutine waits per query.
//
// A socket bound to a wildcard address (0.0.0.0, ::) answers each query
// from the address it came to, which it reads from the packet's control
// message (pktinfo.go).
type udpServer struct {
	s       *Server
	conn    *net.UDPConn
	pktinfo bool      // bound to a wildcard address
	raw     sync.Pool // *sockopt.UDP on conn, for writes from any goroutine; none with pktinfo
	closing atomic.Bool
	readers sync.WaitGroup
	pending sync.WaitGroup // queries sent upstream and not yet answered
}

// maxQuerySize is the largest UDP query read whole.
const maxQuerySize = 4096

// listenReadBuffer is the receive buffer asked for each listening socket:
// a burst of queries (a client that starts with hundreds outstanding) waits
// there rather than being dropped. Past the system's cap (net.core.rmem_max,
// 208 KiB by default: some 250 queries) it takes CAP_NET_ADMIN.
const listenReadBuffer = 4 << 20

func newUDPServer(s *Server, conn *net.UDPConn, pktinfo bool) (*udpServer, error) {
	sockopt.ReadBuffer(conn, listenReadBuffer) // best effort
	if pktinfo {
		if err := setPktinfo(conn); err != nil {
			return nil, err
		}
	}
	u := &udpServer{s: s, conn: conn, pktinfo: pktinfo}
	u.raw.New = func() any {
		r, err := sockopt.NewUDP(conn)
		if err != nil {
			return nil
		}
		return r
	}
	return u, nil
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
	var raw *sockopt.UDP // this reader's own, for reads: raw system calls (sockopt.UDP says why)
	if u.pktinfo {
		oob = make([]byte, oobSize)
	} else if r, err := sockopt.NewUDP(u.conn); err == nil {
		raw = r
	}
	q := &query{udp: u, proto: "udp"}
	var backoff time.Duration
	for {
		n, from, dst, err := u.receive(raw, in, oob)
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
// the request path, reading it into q, and says whether it went upstream.
func (u *udpServer) handle(q *query, pkt []byte, from netip.AddrPort, dst netip.Addr) (forwarded bool) {
	*q = query{udp: u, proto: "udp", to: from, dst: dst, client: from.Addr().Unmap(), pkt: pkt,
		start: u.s.cfg.Now(), rt: u.s.route.Load()}
	if !q.read(u.s.cfg.MaxUDPSize) || !u.s.admit(q) || u.s.fromCache(q) {
		return false
	}
	u.s.forward(q.clone())
	return true
}

// receive reads the next packet, and with pktinfo the address it came to.
func (u *udpServer) receive(raw *sockopt.UDP, in, oob []byte) (int, netip.AddrPort, netip.Addr, error) {
	if raw != nil {
		n, from, err := raw.ReadFrom(in)
		return n, from, netip.Addr{}, err
	}
	if !u.pktinfo {
		n, from, err := u.conn.ReadFromUDPAddrPort(in)
		return n, from, netip.Addr{}, err
	}
	n, oobn, _, from, err := u.conn.ReadMsgUDPAddrPort(in, oob)
	return n, from, dstOf(oob[:oobn]), err
}

// write sends b to the client at to, from dst if the socket is a wildcard,
// else with a raw system call (sockopt.UDP says why).
func (u *udpServer) write(b []byte, to netip.AddrPort, dst netip.Addr) error {
	if !u.pktinfo {
		if r, ok := u.raw.Get().(*sockopt.UDP); ok {
			err := r.WriteTo(b, to)
			u.raw.Put(r)
			return err
		}
	}
	if !u.pktinfo || !dst.IsValid() {
		_, err := u.conn.WriteToUDPAddrPort(b, to)
		return err
	}
	_, _, err := u.conn.WriteMsgUDPAddrPort(b, srcOOB(dst), to)
	return err
}

// shutdown stops reading, lets the queries sent upstream be answered until
// ctx ends, then closes the socket. It returns ctx's error if it ended
// first, after those queries, which the server makes give up then, are
// done too.
func (u *udpServer) shutdown(ctx context.Context) error {
	u.closing.Store(true)
	u.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the readers
	u.readers.Wait()
	done := make(chan struct{})
	go func() { u.pending.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	<-done
	u.conn.Close()
	return err
}
