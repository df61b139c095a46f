package diagnose

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// guard decides which addresses a probe may be sent to. NS records and
// glue come from whoever runs a zone, so a name can steer the probes at
// any address: this machine, nxray itself, a link-local neighbour (a
// cloud's metadata service), a multicast group. Every probe passes here
// before anything is sent. Not changed after newGuard, so safe for
// concurrent use; a nil guard lets everything through.
type guard struct {
	deny []netip.Prefix // IPv4 networks unmapped, so either spelling matches
	// self are nxray's own listen addresses: a probe there would come
	// back into nxray as a query, and a failure there as a diagnosis.
	self []netip.AddrPort
	// trusted are the addresses the operator named (upstreams, alternates,
	// root hints), exempt from deny but not from self: the deny list is
	// for where DNS data leads, and nxray's data path sends to them anyway
	// (a cloud's resolver may well be link-local, as 169.254.169.253 is).
	trusted map[string]bool
	// local lists this machine's addresses, for an unspecified listen
	// address; called at each such check, since interfaces come and go.
	local func() []netip.Addr
}

// newGuard builds the guard of cfg (AuthPort set).
func newGuard(cfg ProbeConfig) *guard {
	g := &guard{trusted: map[string]bool{}, local: interfaceAddrs}
	for _, p := range cfg.Deny {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.deny = append(g.deny, p)
	}
	for _, s := range cfg.Self {
		g.self = append(g.self, netip.AddrPortFrom(bare(s.Addr()), s.Port()))
	}
	named := append(append([]string(nil), cfg.Upstreams...), cfg.Alternates...)
	for _, pz := range cfg.Private {
		named = append(named, pz.Resolvers...)
	}
	for _, ip := range cfg.RootHints {
		named = append(named, net.JoinHostPort(ip, fmt.Sprint(cfg.AuthPort)))
	}
	for _, s := range named {
		g.trusted[canonical(s)] = true
	}
	return g
}

// refuse says why server (IP:port) must not be probed, or "" when it may.
func (g *guard) refuse(server string) string {
	if g == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		if g.trusted[server] {
			return "" // the operator's own spelling, dialled as written
		}
		// Only an address can be checked; a name would be looked up by
		// the system's resolver, which could answer anything.
		return fmt.Sprintf("not probed: %q is not an IP address and port", server)
	}
	ip := bare(ap.Addr())
	if why := g.isSelf(ip, ap.Port()); why != "" {
		return why
	}
	if g.trusted[canonical(server)] {
		return ""
	}
	for _, p := range g.deny {
		if p.Contains(ip) {
			return fmt.Sprintf("not probed: %s is in diagnosis.deny_networks (%s)", ip, p)
		}
	}
	return ""
}

// isSelf says why ip:port is nxray's own, or "".
func (g *guard) isSelf(ip netip.Addr, port uint16) string {
	for _, s := range g.self {
		switch {
		case s.Port() != port:
		case s.Addr() == ip:
			return fmt.Sprintf("not probed: %s is nxray's own listen address", s)
		case s.Addr().IsUnspecified() && g.isLocal(ip):
			// Go listens on both families for either unspecified
			// address, so 0.0.0.0 and :: each stand for every local
			// address, IPv4 and IPv6.
			return fmt.Sprintf("not probed: %s is this machine's, and nxray listens on %s",
				netip.AddrPortFrom(ip, port), s)
		}
	}
	return ""
}

// isLocal says a packet to ip stays on this machine: loopback, the
// unspecified address (which the kernel takes as this host), or the
// address of one of its interfaces.
func (g *guard) isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	for _, a := range g.local() {
		if a == ip {
			return true
		}
	}
	return false
}

// interfaceAddrs lists this machine's addresses. When they cannot be
// listed, loopback and the unspecified address are still refused.
func interfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, bare(ip))
			}
		}
	}
	return out
}

// bare is ip as a prefix can match it: IPv4-mapped IPv6 unmapped (or
// ::ffff:169.254.1.1 would pass a check on 169.254.0.0/16), and without
// an IPv6 zone (netip.Prefix.Contains is false for any zoned address).
func bare(ip netip.Addr) netip.Addr { return ip.Unmap().WithZone("") }

// canonical is one spelling of an IP:port, so "[::ffff:192.0.2.1]:53"
// and "192.0.2.1:53" name the same server; other strings stay as they are.
func canonical(s string) string {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(bare(ap.Addr()), ap.Port()).String()
	}
	return s
}

// unreachable names the kind of an address that no resolver can reach
// over the network (a packet to it goes nowhere, or stays on the host
// that sends it), or "" for an address that may well be reachable.
func unreachable(server string) string {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return ""
	}
	ip := bare(ap.Addr())
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.Is4() && ip.As4()[0] >= 240:
		return "reserved or broadcast"
	}
	return ""
}

// reason is why a server was not probed, without the "not probed: " that
// the evidence row starts with.
func reason(a Answer) string { return strings.TrimPrefix(a.Err, "not probed: ") }
