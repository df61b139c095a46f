// Package sockopt sizes sockets' buffers beyond what an unprivileged
// process may ask for, when nxray has the privilege (CAP_NET_ADMIN, as root
// in a container has), as Unbound's so-rcvbuf does.
package sockopt

import (
	"net"
	"syscall"
)

// ReadBuffer asks for a receive buffer of n bytes on c: over the system's
// cap (net.core.rmem_max, 208 KiB by default) if the process may, else up
// to the cap. It is best effort: the error is SO_RCVBUF's.
func ReadBuffer(c *net.UDPConn, n int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if force(int(fd), n) == nil {
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
	})
	if err != nil {
		return err
	}
	return serr
}
