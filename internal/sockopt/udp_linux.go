package sockopt

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// UDP reads and writes one UDP socket with raw system calls, as net's do
// but without entering the Go scheduler's system-call state. With one P
// (GOMAXPROCS=1, nxray pinned to one CPU), a goroutine in that state for
// one sysmon tick (20 µs, which a sendto preempted on a busy CPU lasts)
// has its P handed to another thread, and sysmon keeps waking every 20 µs:
// on a cache-hit load that cost nxray a fifth of its CPU in thread switches
// and sysmon's sleeps. recvfrom and sendto on a non-blocking socket never
// block; when they would, the netpoller waits, as for net's own reads.
//
// A UDP is for one goroutine at a time: it keeps each call's state.
type UDP struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket

	buf   []byte
	n     int
	err   error
	sa    syscall.RawSockaddrAny
	salen uint32
	read  func(fd uintptr) bool // u.recv, made once: a method value per call would allocate
	write func(fd uintptr) bool // u.send
}

// NewUDP wraps conn, which the caller keeps and closes.
func NewUDP(conn *net.UDPConn) (*UDP, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &UDP{rc: rc}
	var domain int
	var serr error
	if err := rc.Control(func(fd uintptr) { domain, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN) }); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	u.v6 = domain == syscall.AF_INET6
	u.read, u.write = u.recv, u.send
	return u, nil
}

// ReadFrom reads a packet into b and returns its length and sender.
func (u *UDP) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	u.buf = b
	if err := u.rc.Read(u.read); err != nil {
		return 0, netip.AddrPort{}, err
	}
	u.buf = nil
	if u.err != nil {
		return 0, netip.AddrPort{}, u.err
	}
	return u.n, u.from(), nil
}

func (u *UDP) recv(fd uintptr) bool {
	for {
		u.salen = uint32(unsafe.Sizeof(u.sa))
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(u.buf))), uintptr(len(u.buf)),
			0, uintptr(unsafe.Pointer(&u.sa)), uintptr(unsafe.Pointer(&u.salen)))
		switch e {
		case 0:
			u.n, u.err = int(n), nil
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for the next packet
		}
		u.n, u.err = 0, e
		return true
	}
}

// from is the sender of the packet recv read.
func (u *UDP) from() netip.AddrPort {
	switch u.sa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&u.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port(&sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&u.sa))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 { // a link-local client: its interface, by number
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, port(&sa.Port))
	}
	return netip.AddrPort{}
}

// WriteTo sends b to to.
func (u *UDP) WriteTo(b []byte, to netip.AddrPort) error {
	u.salen = u.sockaddr(to)
	if u.salen == 0 {
		return &net.AddrError{Err: "address family does not match the socket's", Addr: to.String()}
	}
	return u.sendBuf(b)
}

// Write sends b on a connected socket.
func (u *UDP) Write(b []byte) error {
	u.salen = 0
	return u.sendBuf(b)
}

// sendBuf sends b to the address in u.sa (none if u.salen is 0).
func (u *UDP) sendBuf(b []byte) error {
	u.buf = b
	err := u.rc.Write(u.write)
	u.buf = nil
	if err != nil {
		return err
	}
	return u.err
}

func (u *UDP) send(fd uintptr) bool {
	to := uintptr(0) // connected: no address
	if u.salen > 0 {
		to = uintptr(unsafe.Pointer(&u.sa))
	}
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(u.buf))), uintptr(len(u.buf)),
			0, to, uintptr(u.salen))
		switch e {
		case 0:
			u.err = nil
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for room
		}
		u.err = e
		return true
	}
}

// sockaddr writes to into u.sa in the socket's family and returns its
// length; 0 if the socket cannot send to it.
func (u *UDP) sockaddr(to netip.AddrPort) uint32 {
	a := to.Addr()
	if u.v6 {
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&u.sa))
		*sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16(), Scope_id: scope(a.Zone())}
		setPort(&sa.Port, to.Port())
		return syscall.SizeofSockaddrInet6
	}
	a = a.Unmap()
	if !a.Is4() {
		return 0
	}
	sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&u.sa))
	*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
	setPort(&sa.Port, to.Port())
	return syscall.SizeofSockaddrInet4
}

// scope is the interface index of an IPv6 zone: a number, or a name.
func scope(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// port reads a port in network byte order.
func port(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func setPort(p *uint16, v uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(v>>8), byte(v)
}
