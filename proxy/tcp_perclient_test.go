package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// TestTCPPerClientCap: a client at its cap of connections has the next one
// closed at once; another address is another client, and a closed
// connection gives its place back.
func TestTCPPerClientCap(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	s, addr := startProxy(t, func(c *Config) {
		c.TCPMaxPerClient = 3
		c.TCPIdleTimeout = time.Minute
	}, up.Addr)
	one := net.IPv4(127, 0, 0, 1)
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, one, addr)
		if err := askOn(c); err != nil {
			t.Fatalf("a connection within the cap: %v", err)
		}
		held = append(held, c)
	}
	if err := askOn(dialFrom(t, one, addr)); !closedAtOnce(err) {
		t.Errorf("a connection over the client's cap: %v, want it closed at once", err)
	}
	if got := s.Stats().TCPRejected; got != 1 {
		t.Errorf("TCPRejected = %d, want 1", got)
	}
	if err := askOn(dialFrom(t, net.IPv4(127, 0, 0, 2), addr)); err != nil {
		t.Errorf("another client: %v", err)
	}
	held[0].Close()
	// The server gives the place back once it has read the close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := askOn(dialFrom(t, one, addr))
		if err == nil {
			break
		}
		if !closedAtOnce(err) || time.Now().After(deadline) {
			t.Fatalf("after one of its connections closed, the client's next one: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling: the server's reader has yet to see the close
	}
}

// TestRemoteIPUnmapped: a client on a dual-stack socket, whose IPv4
// address comes IPv4-mapped, is the same client as over IPv4.
func TestRemoteIPUnmapped(t *testing.T) {
	for _, tt := range []struct{ name, ip string }{
		{"IPv4", "192.0.2.7"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := stubConn{remote: &net.TCPAddr{IP: net.ParseIP(tt.ip), Port: 5300}}
			if got := remoteIP(c); got.String() != "192.0.2.7" {
				t.Errorf("remoteIP = %s, want 192.0.2.7", got)
			}
		})
	}
}

// stubConn is a net.Conn that only has a remote address.
type stubConn struct {
	net.Conn
	remote net.Addr
}

func (c stubConn) RemoteAddr() net.Addr { return c.remote }

// dialFrom opens a TCP connection to addr from the loopback address ip. It
// fails the test's reads after 5s rather than hang, and is closed at
// cleanup.
func dialFrom(t testing.TB, ip net.IP, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// askOn asks one question on c and reads the answer.
func askOn(c net.Conn) error {
	dc := &dns.Conn{Conn: c}
	if err := dc.WriteMsg(question("a.example.test.", dns.TypeA)); err != nil {
		return err
	}
	_, err := dc.ReadMsg()
	return err
}

// closedAtOnce says whether err is the server closing the connection
// rather than a timeout.
func closedAtOnce(err error) bool {
	return err != nil && !isTimeout(err)
}
