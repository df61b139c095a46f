package proxy

import (
	crand "crypto/rand"
	"encoding/binary"
	"sync"

	"github.com/miekg/dns"
)

// maxUDPSize is the EDNS0 buffer size nxray offers upstream and to clients:
// the DNS Flag Day 2020 size, which avoids IP fragmentation.
const maxUDPSize = 1232

// queryBufPool holds buffers for queries packed to go upstream. They are
// held for a whole exchange, so they are small: a query that needs more
// is packed into a buffer of its own.
var queryBufPool = sync.Pool{New: func() any { b := make([]byte, 512); return &b }}

// upstreamQuery packs into buf the query to send upstream under a fresh
// random ID: the client's question as spelled, its RD and CD bits, and its
// EDNS0 with the DO bit and end-to-end options but nxray's own buffer size.
func upstreamQuery(req *dns.Msg, buf []byte) ([]byte, uint16, error) {
	out := dns.Msg{MsgHdr: req.MsgHdr, Question: req.Question}
	out.Id = randomID()
	out.Response, out.Authoritative, out.Truncated, out.RecursionAvailable = false, false, false, false
	if opt := req.IsEdns0(); opt != nil {
		o := newOPT(opt.Do())
		for _, e := range opt.Option {
			if endToEnd(e) {
				o.Option = append(o.Option, e)
			}
		}
		out.Extra = []dns.RR{o}
	}
	wire, err := out.PackBuffer(buf)
	return wire, out.Id, err
}

// randomID is a query ID from the system's CSPRNG (RFC 5452 section 9.2),
// as dns.Id is, without its allocation.
func randomID() uint16 {
	var b [2]byte
	crand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

// fitOPT gives the answer nxray's own OPT record: none for a client that
// sent no EDNS0, else nxray's buffer size with the upstream's end-to-end
// options (hop-by-hop ones such as cookies stay behind).
func fitOPT(resp *dns.Msg, clientEDNS bool) {
	var up *dns.OPT
	extra := resp.Extra[:0]
	for _, rr := range resp.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			up = o
			continue
		}
		extra = append(extra, rr)
	}
	resp.Extra = extra
	if !clientEDNS {
		return
	}
	o := newOPT(up != nil && up.Do())
	if up != nil {
		for _, e := range up.Option {
			if endToEnd(e) {
				o.Option = append(o.Option, e)
			}
		}
	}
	resp.Extra = append(resp.Extra, o)
}

func newOPT(do bool) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(maxUDPSize)
	if do {
		o.SetDo()
	}
	return o
}

// endToEnd tells options that belong to the query or answer from those
// that belong to one hop (RFC 7873 cookies, RFC 7828 keepalive, padding).
func endToEnd(e dns.EDNS0) bool {
	switch e.Option() {
	case dns.EDNS0COOKIE, dns.EDNS0TCPKEEPALIVE, dns.EDNS0PADDING:
		return false
	}
	return true
}
