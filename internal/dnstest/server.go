package dnstest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Server is a DNS server on a loopback address, UDP and TCP on one port,
// that counts the queries it receives and keeps the last. Its methods are
// safe for concurrent use.
type Server struct {
	Addr string // IP:port, the same for UDP and TCP; never changes

	queries atomic.Int32
	mu      sync.Mutex // guards last
	last    *dns.Msg   // a copy of the last query received
	stop    func()     // idempotent
}

// Start starts a Server on 127.0.0.1, at a port free for both UDP and TCP,
// answering with h. It stops at t's cleanup.
func Start(t testing.TB, h dns.HandlerFunc) *Server {
	t.Helper()
	return StartAt(t, "127.0.0.1:0", h)
}

// StartAt starts a Server at addr, a loopback IP:port (port 0 picks one
// free for both UDP and TCP), answering with h: with the address of a
// Server stopped before, it is that server back after a crash. It stops at
// t's cleanup.
func StartAt(t testing.TB, addr string, h dns.HandlerFunc) *Server {
	t.Helper()
	pc, ln, err := listenPair(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String()}
	counted := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		s.queries.Add(1)
		s.mu.Lock()
		s.last = r.Copy()
		s.mu.Unlock()
		h(w, r)
	})
	stopUDP := Serve(t, &dns.Server{PacketConn: pc, Handler: counted})
	stopTCP := Serve(t, &dns.Server{Listener: ln, Handler: counted})
	s.stop = sync.OnceFunc(func() { stopUDP(); stopTCP() })
	return s
}

// Queries is how many queries the server has received, over UDP and TCP.
func (s *Server) Queries() int { return int(s.queries.Load()) }

// LastQuery is a copy of the last query received, or nil before the first.
func (s *Server) LastQuery() *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Stop shuts the server down at once, as a crash would: from then on its
// address refuses UDP and TCP. It waits for the server's goroutines, so a
// handler still running holds it. Stopping twice is harmless.
func (s *Server) Stop() { s.stop() }

// Serve runs srv, which has its PacketConn or Listener on a loopback
// address, until t's cleanup or the returned stop (idempotent); it returns
// once srv is serving. It sets srv.NotifyStartedFunc.
func Serve(t testing.TB, srv *dns.Server) (stop func()) {
	t.Helper()
	var local net.Addr
	switch {
	case srv.PacketConn != nil:
		local = srv.PacketConn.LocalAddr()
	case srv.Listener != nil:
		local = srv.Listener.Addr()
	default:
		t.Fatal("dnstest.Serve: the server has neither a PacketConn nor a Listener")
	}
	if ap, err := netip.ParseAddrPort(local.String()); err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("dnstest.Serve: %s is not a loopback address", local)
	}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("dnstest.Serve on %s: %v", local, err)
	}
	stop = sync.OnceFunc(func() {
		srv.Shutdown()
		<-done
	})
	t.Cleanup(stop)
	return stop
}

// DeadAddr returns an address on 127.0.0.1 where nothing listens, over UDP
// or TCP: a query there is refused at once.
func DeadAddr(t testing.TB) string {
	t.Helper()
	pc, ln, err := listenPair("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	ln.Close()
	return addr
}

// Blackhole returns a UDP address on 127.0.0.1 that reads queries and never
// answers, as a server behind a firewall that drops DNS, and a channel that
// receives at each query's arrival (it holds 100; more are not signalled).
// It closes at t's cleanup.
func Blackhole(t testing.TB) (addr string, arrived <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String(), got
}

// AnswerA is a handler that answers every query with one A record of ip,
// owned by the query's name, with the given TTL.
func AnswerA(ip string, ttl uint32) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA,
			Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
		w.WriteMsg(m)
	}
}

// listenPair binds UDP and TCP on the same loopback address and port. With
// port 0 it tries ports the system picks for UDP until TCP's is free too.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, nil, fmt.Errorf("dnstest: %q is not a loopback IP:port", addr)
	}
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: %w", err)
		}
		port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ap.Addr(), port).String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if ap.Port() != 0 {
			return nil, nil, fmt.Errorf("dnstest: %w", err)
		}
	}
	return nil, nil, fmt.Errorf("dnstest: no port on %s free for both UDP and TCP", ap.Addr())
}
