//go:build !linux

package sockopt

import (
	"net"
	"net/netip"
)

// UDP reads and writes one UDP socket; elsewhere than Linux, through net.
type UDP struct{ conn *net.UDPConn }

// NewUDP wraps conn, which the caller keeps and closes.
func NewUDP(conn *net.UDPConn) (*UDP, error) { return &UDP{conn: conn}, nil }

// ReadFrom reads a packet into b and returns its length and sender.
func (u *UDP) ReadFrom(b []byte) (int, netip.AddrPort, error) { return u.conn.ReadFromUDPAddrPort(b) }

// WriteTo sends b to to.
func (u *UDP) WriteTo(b []byte, to netip.AddrPort) error {
	_, err := u.conn.WriteToUDPAddrPort(b, to)
	return err
}

// Write sends b on a connected socket.
func (u *UDP) Write(b []byte) error {
	_, err := u.conn.Write(b)
	return err
}
