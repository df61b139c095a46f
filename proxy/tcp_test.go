package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestTCPPipelinedQueries(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
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
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	s, addr := startProxy(t, func(c *Config) {
		c.TCPMaxConns = 2
		c.TCPIdleTimeout = time.Minute
	}, up.Addr)
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
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, func(c *Config) { c.TCPIdleTimeout = 200 * time.Millisecond }, up.Addr)
	for _, tt := range []struct {
		name string
		dial func(t *testing.T) net.Conn
	}{
		{"after an answer", func(t *testing.T) net.Conn { return dialAndAsk(t, addr) }},
		{"saying nothing", func(t *testing.T) net.Conn { return dial(t, addr) }},
		{"a length and then nothing", func(t *testing.T) net.Conn {
			c := dial(t, addr)
			if _, err := c.Write([]byte{0, 40}); err != nil { // 40 bytes promised, none sent
				t.Fatal(err)
			}
			return c
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.dial(t)
			defer c.Close()
			// The server closes the connection after the idle timeout (the
			// 5s deadline is only there to fail rather than hang).
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Errorf("idle connection not closed by the server: %v", err)
			}
		})
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

// readFrames reads length-prefixed messages from c until the server closes
// it, failing the test if it does not within c's deadline.
func readFrames(t testing.TB, c net.Conn) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			if isTimeout(err) {
				t.Fatalf("connection not closed by the server: %v", err)
			}
			return out
		}
		b := make([]byte, be16(n[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("answer cut short: %v", err)
		}
		out = append(out, b)
	}
}

// framed puts each message behind its length, as on a TCP connection.
func framed(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// TestTCPAnswersOutOfOrder: a query whose upstream is slow does not hold up
// the next one on the same connection (RFC 7766 section 6.2.1.1).
func TestTCPAnswersOutOfOrder(t *testing.T) {
	up, arrived, unblock := heldUpstream(t, "slow.example.test.")
	_, addr := startProxy(t, func(c *Config) { c.Timeout, c.Deadline = 10*time.Second, 10*time.Second }, up.Addr)
	c := &dns.Conn{Conn: dial(t, addr)}
	send(t, c, question("slow.example.test.", dns.TypeA), 1)
	wait(t, arrived, "slow query upstream")
	send(t, c, question("fast.example.test.", dns.TypeA), 2)
	if r := receive(t, c, 2); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("fast query: %v", r)
	}
	unblock()
	if r := receive(t, c, 1); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Question[0].Name != "slow.example.test." {
		t.Errorf("slow query: %v", r)
	}
}

// TestTCPQueriesInFlightCapped: past maxTCPQueries in flight on one
// connection, the server reads no further until one is answered; then it
// reads on, and every query is answered.
func TestTCPQueriesInFlightCapped(t *testing.T) {
	arrived := make(chan struct{}, maxTCPQueries)
	release := make(chan struct{})
	overArrived := make(chan struct{}, 1)
	var released, early atomic.Int32
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if strings.HasPrefix(r.Question[0].Name, "held") {
			arrived <- struct{}{}
			<-release
		} else {
			if released.Load() == 0 {
				early.Add(1)
			}
			overArrived <- struct{}{}
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	releaseAll := sync.OnceFunc(func() { close(release) })
	_, addr := startProxy(t, func(c *Config) { c.Timeout, c.Deadline = 10*time.Second, 10*time.Second }, up.Addr)
	t.Cleanup(releaseAll) // before the proxy's shutdown
	conn := dial(t, addr)
	var msgs [][]byte
	for i := range maxTCPQueries {
		m := question(fmt.Sprintf("held%d.example.test.", i), dns.TypeA)
		m.Id = uint16(i)
		msgs = append(msgs, pack(t, m))
	}
	over := question("over.example.test.", dns.TypeA)
	over.Id = 1000
	if _, err := conn.Write(framed(append(msgs, pack(t, over))...)); err != nil {
		t.Fatal(err)
	}
	for range maxTCPQueries {
		wait(t, arrived, "held query upstream")
	}
	// Every held query is in flight; the one over the cap must not be read.
	// A bound on a wait for something that must not happen; without the cap
	// it arrives within microseconds.
	select {
	case <-overArrived:
		t.Fatal("a query over the cap was forwarded while the cap was full")
	case <-time.After(100 * time.Millisecond):
	}
	released.Add(1)
	release <- struct{}{} // one held query is answered...
	c := &dns.Conn{Conn: conn}
	first, err := c.ReadMsg()
	if err != nil || first.Id >= maxTCPQueries {
		t.Fatalf("first answer %v (%v), want a held query's", first, err)
	}
	receive(t, c, 1000) // ...and only then is the query over the cap read
	if early.Load() != 0 {
		t.Error("the query over the cap reached the upstream before any held one was answered")
	}
	releaseAll()
	seen := map[uint16]bool{first.Id: true, 1000: true}
	for range maxTCPQueries - 1 {
		r, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		if seen[r.Id] {
			t.Fatalf("ID %d answered twice", r.Id)
		}
		seen[r.Id] = true
	}
}

// TestTCPNotIdleWhileAnswering: a connection with a query in flight is not
// idle, however long its upstream takes; the idle timeout counts from the
// answer.
func TestTCPNotIdleWhileAnswering(t *testing.T) {
	up, arrived, unblock := heldUpstream(t, "slow.example.test.")
	_, addr := startProxy(t, func(c *Config) {
		c.TCPIdleTimeout = 300 * time.Millisecond
		c.Timeout, c.Deadline = 10*time.Second, 10*time.Second
	}, up.Addr)
	c := &dns.Conn{Conn: dial(t, addr)}
	send(t, c, question("slow.example.test.", dns.TypeA), 1)
	wait(t, arrived, "slow query upstream")
	// A clock: a connection opened now, saying nothing, is closed once the
	// idle timeout has passed, for the first one too had it been idle.
	clock := dial(t, addr)
	if _, err := clock.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the idle connection was not closed: %v", err)
	}
	unblock()
	receive(t, c, 1)
	send(t, c, question("next.example.test.", dns.TypeA), 2)
	receive(t, c, 2)
}

// TestTCPMalformedAsOverUDP: what is not a query nxray accepts gets over
// TCP what it gets over UDP, byte for byte, and the connection serves on.
func TestTCPMalformedAsOverUDP(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	resp := question("a.example.test.", dns.TypeA)
	resp.Id, resp.Response = 2, true
	update := question("example.test.", dns.TypeSOA)
	update.Id, update.Opcode = 3, dns.OpcodeUpdate
	two := question("a.example.test.", dns.TypeA)
	two.Id = 4
	two.Question = append(two.Question, two.Question[0])
	good := question("ok.example.test.", dns.TypeA)
	good.Id = 9
	cases := []struct {
		name  string
		b     []byte
		rcode int // -1: no answer
	}{
		{"a runt", []byte{0, 1, 0}, -1},
		{"a response", pack(t, resp), -1},
		{"UPDATE", pack(t, update), dns.RcodeNotImplemented},
		{"two questions", pack(t, two), dns.RcodeFormatError},
		{"a question that runs off the end", []byte{0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63}, dns.RcodeFormatError},
		{"a pointer loop", []byte{0, 6, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}, dns.RcodeFormatError},
		{"a good query after them", pack(t, good), dns.RcodeSuccess},
	}
	var msgs [][]byte
	for _, tt := range cases {
		msgs = append(msgs, tt.b)
	}
	conn := dial(t, addr)
	if _, err := conn.Write(framed(msgs...)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite() // the server answers what it read, then closes
	got := map[uint16][]byte{}
	for _, b := range readFrames(t, conn) {
		got[be16(b)] = b
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.b) < 2 {
				return
			}
			b, ok := got[be16(tt.b)]
			delete(got, be16(tt.b))
			if tt.rcode < 0 {
				if ok {
					t.Errorf("answered %x", b)
				}
				return
			}
			if r := new(dns.Msg); r.Unpack(b) != nil || !r.Response || r.Rcode != tt.rcode {
				t.Fatalf("answer %x, want %s", b, dns.RcodeToString[tt.rcode])
			}
			if udp := exchangeUDP(t, addr, tt.b); !bytes.Equal(b, udp) {
				t.Errorf("over TCP\n%x\nover UDP\n%x", b, udp)
			}
		})
	}
	for id, b := range got {
		t.Errorf("an answer no query asked for: ID %d, %x", id, b)
	}
}

// exchangeUDP sends b to addr over UDP and returns the answer.
func exchangeUDP(t testing.TB, addr string, b []byte) []byte {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer over UDP: %v", err)
	}
	return buf[:n]
}
