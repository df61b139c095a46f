package proxy

import (
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

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

var queries = sync.Pool{New: func() any { return new(query) }}

func allowed(acl []netip.Prefix, a netip.Addr) bool {
	for _, p := range acl {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ServeDNS answers req, unpacked already, as a query read from a packet is
// answered: the same path from the ACL on (serve.go), on the caller's
// goroutine. It makes a Server a dns.Handler, for a miekg/dns server or a
// test; nxray's own listeners read packets themselves.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	// The query waits for its answer here, so nothing holds it once serve
	// returns: it goes back to the pool, and a hit allocates nothing.
	q := queries.Get().(*query)
	defer func() { *q = query{}; queries.Put(q) }()
	*q = query{rw: w, proto: "tcp", start: s.cfg.Now(), rt: s.route.Load()}
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		q.proto, q.client = "udp", a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		q.client = a.AddrPort().Addr().Unmap()
	}
	q.setMsg(req, s.cfg.MaxUDPSize)
	s.serve(q)
}
