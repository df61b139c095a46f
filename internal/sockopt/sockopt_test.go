package sockopt

import (
	"net"
	"syscall"
	"testing"
)

// ReadBuffer gets at least what an unprivileged process may have, and as
// root the whole size asked for, past the system's cap.
func TestReadBuffer(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := readBuffer(t, c)
	const want = 8 << 20
	if err := ReadBuffer(c, want); err != nil {
		t.Fatal(err)
	}
	got := readBuffer(t, c) / 2 // Linux reports twice what was set, for its bookkeeping
	if got < before/2 {
		t.Errorf("receive buffer %d after asking for %d, was %d", got, want, before/2)
	}
	// Where the process may (CAP_NET_ADMIN), it has the whole size.
	raw, _ := c.SyscallConn()
	var ferr error
	raw.Control(func(fd uintptr) { ferr = force(int(fd), want) })
	if ferr == nil && got < want {
		t.Errorf("receive buffer %d after asking for %d, with the privilege to have it", got, want)
	}
}

func readBuffer(t *testing.T, c *net.UDPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	raw.Control(func(fd uintptr) { n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if serr != nil {
		t.Fatal(serr)
	}
	return n
}
