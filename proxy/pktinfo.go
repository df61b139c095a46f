package proxy

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// A UDP socket bound to a wildcard address receives queries sent to any of
// the host's addresses, and must answer each from the address it was sent
// to: a client drops an answer from another. The kernel says where a packet
// came to in a control message (IP_PKTINFO, IPV6_PKTINFO), and takes the
// source of an answer from one.

// oobSize holds either family's packet information.
var oobSize = max(len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)),
	len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface)))

// setPktinfo asks for the packet information of every query on conn. A
// socket bound to 0.0.0.0 may be an IPv6 one taking IPv4 too: both are
// asked for, and one of them working is enough.
func setPktinfo(conn *net.UDPConn) error {
	err4 := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	if err4 != nil && err6 != nil {
		return err4
	}
	return nil
}

// dstOf reads the address a packet came to from its control message.
func dstOf(oob []byte) netip.Addr {
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil {
		a, _ := netip.AddrFromSlice(cm6.Dst)
		return a.Unmap() // an IPv4 query on a dual-stack socket
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		a, _ := netip.AddrFromSlice(cm4.Dst.To4())
		return a
	}
	return netip.Addr{}
}

// srcOOB is the control message that sends a packet from src: IP_PKTINFO
// for an IPv4 address, which a dual-stack socket takes for an IPv4 client.
func srcOOB(src netip.Addr) []byte {
	if src.Is4() {
		return (&ipv4.ControlMessage{Src: src.AsSlice()}).Marshal()
	}
	return (&ipv6.ControlMessage{Src: src.AsSlice()}).Marshal()
}
