package sockopt

import "syscall"

// force sets the receive buffer past net.core.rmem_max (SO_RCVBUFFORCE),
// which takes CAP_NET_ADMIN.
func force(fd, n int) error {
	return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
}
