package proxy

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

func isUDP(w dns.ResponseWriter) bool {
	if _, ok := w.(*udpWriter); ok {
		return true // without making its net.Addr
	}
	_, ok := w.RemoteAddr().(*net.UDPAddr)
	return ok
}

// limitFor is the largest answer this client takes on this transport.
func limitFor(w dns.ResponseWriter, req *dns.Msg) int {
	if isUDP(w) {
		return udpLimit(req)
	}
	return dns.MaxMsgSize
}

// udpLimit is the largest answer a client takes over UDP (RFC 6891 6.2.5).
func udpLimit(req *dns.Msg) int {
	opt := req.IsEdns0()
	if opt == nil {
		return clientUDPLimit(false, 0)
	}
	return clientUDPLimit(true, opt.UDPSize())
}

// clientUDPLimit is the largest UDP answer for a client that sent EDNS0
// with buffer size size, or none: never below 512 bytes.
func clientUDPLimit(edns bool, size uint16) int {
	if edns {
		return max(int(size), dns.MinMsgSize)
	}
	return dns.MinMsgSize
}

func clientAddr(w dns.ResponseWriter) netip.Addr {
	if u, ok := w.(*udpWriter); ok {
		return u.to.Addr().Unmap()
	}
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

func allowed(acl []netip.Prefix, a netip.Addr) bool {
	for _, p := range acl {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
