package upstream

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

// dotServer is a DNS-over-TLS server on 127.0.0.1 for the transport's
// tests: it reads each connection's queries in turn and answers each on a
// goroutine of its own with answer, so answers go out in whatever order
// answer returns them. It counts the connections it accepted.
type dotServer struct {
	addr     string
	accepted atomic.Int64
	ln       net.Listener
	mu       sync.Mutex // guards conns
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

// answerA answers q with 192.0.2.1, an address no test sends to.
func answerA(q *dns.Msg) *dns.Msg {
	r := new(dns.Msg).SetReply(q)
	r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A: net.IPv4(192, 0, 2, 1)})
	return r
}

func startDoT(t *testing.T, cert tls.Certificate, answer func(*dns.Msg) *dns.Msg) *dotServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &dotServer{addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(c, answer)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.closeConns()
		s.wg.Wait()
	})
	return s
}

// closeConns closes every connection the server holds, as a server that
// restarts or drops idle clients does.
func (s *dotServer) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
}

// open is how many connections the server holds.
func (s *dotServer) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *dotServer) serve(c net.Conn, answer func(*dns.Msg) *dns.Msg) {
	defer s.wg.Done()
	var wmu sync.Mutex
	var inner sync.WaitGroup
	defer inner.Wait()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(b) != nil {
			return
		}
		inner.Add(1)
		go func() {
			defer inner.Done()
			r := answer(q)
			if r == nil {
				return
			}
			out, _ := r.Pack()
			wmu.Lock()
			defer wmu.Unlock()
			c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...))
		}()
	}
}

// testCA is a CA and a leaf for 127.0.0.1 and dns.test.
func testCA(t *testing.T) (*dnstest.CA, tls.Certificate) {
	ca := dnstest.NewCA(t)
	return ca, ca.Leaf(t, "127.0.0.1", "dns.test")
}
