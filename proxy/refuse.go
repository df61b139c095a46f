package proxy

import "github.com/miekg/dns"

// Queries nxray answers itself instead of forwarding, beyond those the
// header alone rules out (query.read): what RFC 6891 calls malformed, and
// zone transfers, which a forwarder cannot carry.

// refusal is the rcode and Extended DNS Error nxray answers a query with
// that it does not forward; rcode 0 means forward it.
type refusal struct {
	rcode int
	ede   *dns.EDNS0_EDE
}

// notForwarded says whether req, a QUERY with one question, gets an answer
// of nxray's own, and which.
func notForwarded(req *dns.Msg) refusal {
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return refusal{rcode: dns.RcodeFormatError} // RFC 6891 section 6.1.1
	}
	switch req.Question[0].Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// A zone transfer is many messages over TCP, or IXFR's one over
		// UDP, between a secondary and its primary; relayed one message at
		// a time through a cache it would arrive cut short or empty. Unbound
		// refuses them the same way.
		return refusal{rcode: dns.RcodeRefused, ede: &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNotSupported,
			ExtraText: "nxray forwards queries, not zone transfers: ask the zone's primary server"}}
	}
	return refusal{}
}
