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

// limitFor is the largest answer this client gets on this transport.
func (s *Server) limitFor(w dns.ResponseWriter, req *dns.Msg) int {
	if isUDP(w) {
		return udpLimit(req, s.cfg.MaxUDPSize)
	}
	return dns.MaxMsgSize
}

// udpLimit is the largest answer a client gets over UDP (RFC 6891 6.2.5),
// at most ceiling (Config.MaxUDPSize).
func udpLimit(req *dns.Msg, ceiling int) int {
	opt := req.IsEdns0()
	if opt == nil {
		return clientUDPLimit(false, 0, ceiling)
	}
	return clientUDPLimit(true, opt.UDPSize(), ceiling)
}

// clientUDPLimit is the largest UDP answer for a client that sent EDNS0
// with buffer size size, or none: what it takes, never below 512 bytes nor
// above ceiling. The ceiling is what keeps nxray from being an amplifier:
// a UDP source address can be forged, and a 50-byte query offering 65535
// would otherwise draw a cached answer of 60 KB at the forged address,
// fragmented besides. Beyond it the answer goes out truncated (TC), and a
// real client asks again over TCP.
func clientUDPLimit(edns bool, size uint16, ceiling int) int {
	if edns {
		return max(min(int(size), ceiling), dns.MinMsgSize)
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
