package proxy

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestTCPPipelinedQueries(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.addr)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	for i, name := range []string{"one.example.test.", "two.example.test.", "three.example.test."} {
		m := question(name, dns.TypeA)
		m.Id = uint16(100 + i)
		b, _ := m.Pack()
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	if _, err := conn.Write(out); err != nil { // all three before reading any
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: conn}
	seen := map[uint16]bool{}
	for range 3 {
		r, err := dc.ReadMsg()
		if err != nil {
			t.Fatalf("reading pipelined answer: %v", err)
		}
		seen[r.Id] = true
	}
	if !seen[100] || !seen[101] || !seen[102] {
		t.Errorf("answers for ids %v, want 100, 101, 102", seen)
	}
}

func TestTCPConnectionCap(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 60))
	s, addr := startProxy(t, func(c *Config) {
		c.TCPMaxConns = 2
		c.TCPIdleTimeout = time.Minute
	}, up.addr)
	for range 2 {
		defer dialAndAsk(t, addr).Close()
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("a connection over the cap was not closed at once: %v", err)
	}
	if s.Stats().TCPRejected != 1 {
		t.Errorf("TCPRejected = %d, want 1", s.Stats().TCPRejected)
	}
}

func TestTCPIdleTimeout(t *testing.T) {
	up := startUpstream(t, answerA("192.0.2.1", 60))
	_, addr := startProxy(t, func(c *Config) { c.TCPIdleTimeout = 200 * time.Millisecond }, up.addr)
	c := dialAndAsk(t, addr)
	defer c.Close()
	// Say nothing more: the server closes the connection after the idle
	// timeout (the 5s deadline is only there to fail rather than hang).
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("idle connection not closed by the server: %v", err)
	}
}

// dialAndAsk opens a TCP connection and asks one question on it: the
// answer proves the server has accepted the connection.
func dialAndAsk(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: c}
	if err := dc.WriteMsg(question("a.example.test.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	return c
}
