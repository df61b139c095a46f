package sockopt

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// A packet read with ReadFrom is the one sent, from the sender it came
// from; one sent with WriteTo arrives whole, over IPv4 and IPv6; a read
// deadline ends a ReadFrom waiting for nothing; and neither allocates.
func TestUDP(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			listen := func() *net.UDPConn {
				c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
				if err != nil {
					t.Skipf("no %s here: %v", host, err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b := listen(), listen()
			u, err := NewUDP(a)
			if err != nil {
				t.Fatal(err)
			}
			bAddr := b.LocalAddr().(*net.UDPAddr).AddrPort()
			if _, err := b.WriteToUDPAddrPort([]byte("query"), a.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
				t.Fatal(err)
			}
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, from, err := u.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "query" || from.Port() != bAddr.Port() || from.Addr().Unmap() != bAddr.Addr().Unmap() {
				t.Fatalf("read %q from %v (%v), want \"query\" from %v", buf[:n], from, err, bAddr)
			}
			if err := u.WriteTo([]byte("answer"), from); err != nil {
				t.Fatal(err)
			}
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, 512)
			if n, err := b.Read(got); err != nil || !bytes.Equal(got[:n], []byte("answer")) {
				t.Fatalf("client got %q (%v)", got[:n], err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				b.WriteToUDPAddrPort([]byte("q"), a.LocalAddr().(*net.UDPAddr).AddrPort())
				u.ReadFrom(buf)
				u.WriteTo(buf[:1], from)
				b.Read(got)
			})
			if allocs > 0 {
				t.Errorf("%v allocations per read and write, want 0", allocs)
			}
			a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, _, err := u.ReadFrom(buf); err == nil {
				t.Fatal("read nothing sent without an error")
			}
		})
	}
}

// Write sends on a connected socket, and ReadFrom reads its answer there.
func TestUDPConnected(t *testing.T) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := NewUDP(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "query" {
		t.Fatalf("server got %q (%v)", buf[:n], err)
	}
	srv.WriteToUDPAddrPort([]byte("answer"), from)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := u.ReadFrom(buf); err != nil || string(buf[:n]) != "answer" {
		t.Fatalf("client got %q (%v)", buf[:n], err)
	}
}
