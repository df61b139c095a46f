package proxy

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
)

// query is one client query on its way through the server, from the packet
// read to the answer written (serve.go). A UDP reader keeps one to read
// every packet into, and clones it for a query that goes upstream.
type query struct {
	start  time.Time // when it was read (Config.Now)
	rt     *routing
	proto  string // "udp" or "tcp"
	client netip.Addr

	// Where the answer goes: exactly one of udp, tcp and rw is set.
	udp *udpServer
	to  netip.AddrPort // the UDP client
	dst netip.Addr     // the address a wildcard socket's query came to
	tcp *tcpWriter
	rw  dns.ResponseWriter // ServeDNS's

	pkt   []byte // the query as read; nil when it came unpacked (ServeDNS)
	plain bool   // dnscache.ParseQuery read pkt: wq and key hold it
	wq    dnscache.Query
	name  [dnscache.MaxNameLen]byte // a plain query's key name, as ParseQuery wrote it
	req   *dns.Msg                  // unpacked; nil for a plain query until msg needs it
	bad   int                       // the rcode read gave a query it could not take (FORMERR, NOTIMP); 0 if none

	key   dnscache.Key
	id    uint16
	rd    bool
	edns  bool // the client sent an OPT record
	limit int  // the largest answer the client takes
}

// read makes sense of q.pkt. A plain query (dnscache.ParseQuery) is read
// from its bytes, anything else unpacked, with miekg/dns's server's rules:
// responses and runts get no answer (any answer could be used for
// amplification), other opcodes NOTIMP, more records than a query has or an
// unpacking error FORMERR (set in q.bad, for admit to answer). It says
// whether q gets an answer at all.
func (q *query) read(maxUDP int) bool {
	b := q.pkt
	if n, ok := dnscache.ParseQuery(b, &q.wq, &q.name); ok {
		q.plain, q.req = true, nil
		// The name points into q.name: the cache keeps no reference to a key
		// it looks up, and clone makes a string of its own.
		q.key = q.wq.Key(unsafe.String(&q.name[0], n))
		q.id, q.rd, q.edns = q.wq.ID, q.wq.RD, q.wq.EDNS
		q.limit = dns.MaxMsgSize
		if q.proto == "udp" {
			q.limit = clientUDPLimit(q.wq.EDNS, q.wq.UDPSize, maxUDP)
		}
		return true
	}
	if len(b) < dnscache.HeaderLen || b[2]&0x80 != 0 {
		return false
	}
	q.plain = false
	req := &dns.Msg{MsgHdr: header(b)}
	switch {
	case req.Opcode != dns.OpcodeQuery && req.Opcode != dns.OpcodeNotify:
		q.bad = dns.RcodeNotImplemented
	case be16(b[4:]) != 1 || be16(b[6:]) > 1 || be16(b[8:]) > 1 || be16(b[10:]) > 2:
		q.bad = dns.RcodeFormatError
	case req.Unpack(b) != nil: // req keeps what did unpack: the question, if that much
		q.bad = dns.RcodeFormatError
	}
	q.setMsg(req, maxUDP)
	return true
}

// setMsg makes req, unpacked, q's message.
func (q *query) setMsg(req *dns.Msg, maxUDP int) {
	q.req, q.id, q.rd, q.edns = req, req.Id, req.RecursionDesired, req.IsEdns0() != nil
	q.limit = dns.MaxMsgSize
	if q.proto == "udp" {
		q.limit = udpLimit(req, maxUDP)
	}
}

// msg is q's message, unpacked from its bytes the first time it is needed.
// A plain query always unpacks.
func (q *query) msg() *dns.Msg {
	if q.req == nil {
		q.req = new(dns.Msg)
		if err := q.req.Unpack(q.pkt); err != nil {
			q.req.Id = q.id // cannot be: ParseQuery vouched for it
		}
	}
	return q.req
}

// question is q's question, as the client spelled it.
func (q *query) question() dns.Question { return q.questionOf(true) }

// questionOf is question; unless own, the name may point into q's buffer
// (valid only until q is reused) rather than be a string of its own.
func (q *query) questionOf(own bool) dns.Question {
	if q.plain {
		return dns.Question{Name: q.spelled(own), Qtype: q.wq.Qtype, Qclass: q.wq.Qclass}
	}
	if len(q.req.Question) == 0 {
		return dns.Question{}
	}
	return q.req.Question[0]
}

// spelled is a plain query's name as the client spelled it, in
// presentation form: its labels hold nothing that needs escaping. Unless
// own, a name in lowercase is q's key, in q's buffer.
func (q *query) spelled(own bool) string {
	n := q.wq.Qname
	if !bytes.ContainsFunc(n, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		if !own {
			return q.key.Name
		}
		return strings.Clone(q.key.Name)
	}
	b := make([]byte, 0, len(q.key.Name))
	for off := 0; n[off] != 0; off += 1 + int(n[off]) {
		b = append(append(b, n[off+1:off+1+int(n[off])]...), '.')
	}
	if len(b) == 0 {
		return "."
	}
	return string(b)
}

// clone is a copy of q that owns its packet and key, for a query that goes
// on after the reader that read q has moved on.
func (q *query) clone() *query {
	c := new(query)
	*c = *q
	c.pkt = bytes.Clone(q.pkt)
	if c.plain {
		c.wq.Qname = c.pkt[dnscache.HeaderLen : dnscache.HeaderLen+len(q.wq.Qname)]
		c.key.Name = strings.Clone(q.key.Name)
	}
	return c
}

// upstreamWire packs into buf the query to send upstream (upstreamQuery):
// from a plain query's bytes when it has no EDNS0 options, else from its
// message.
func (q *query) upstreamWire(buf []byte) ([]byte, error) {
	if q.plain && (!q.wq.EDNS || q.wq.BareOPT) {
		out := append(buf[:0], q.pkt...)
		binary.BigEndian.PutUint16(out, randomID())
		out[2] &= 0x79 // QR, AA and TC cleared
		out[3] &= 0x7F // RA cleared
		if q.wq.EDNS {
			o := len(out) - 11 // a bare OPT record ends the query
			binary.BigEndian.PutUint16(out[o+3:], maxUDPSize)
			out[o+7] &= 0x80 // no flags but DO
			out[o+8] = 0
		}
		return out, nil
	}
	wire, _, err := upstreamQuery(q.msg(), buf)
	return wire, err
}

// send writes the packed answer b to the client; b is the caller's again
// once send returns.
func (q *query) send(b []byte) error {
	switch {
	case q.tcp != nil:
		_, err := q.tcp.Write(b)
		return err
	case q.rw != nil:
		_, err := q.rw.Write(b)
		return err
	}
	return q.udp.write(b, q.to, q.dst)
}

// writeMsg packs m, truncated to what a UDP client can take, and sends it.
func (q *query) writeMsg(m *dns.Msg) error {
	m.Compress = true
	if q.proto == "udp" {
		m.Truncate(q.limit)
	}
	bp := outBuf(outSize)
	defer putOut(bp)
	b, err := m.PackBuffer(*bp)
	if err != nil {
		return err
	}
	return q.send(b)
}

// header reads the header of the packed message b (len(b) >= HeaderLen).
func header(b []byte) dns.MsgHdr {
	return dns.MsgHdr{
		Id:                 binary.BigEndian.Uint16(b),
		Response:           b[2]&0x80 != 0,
		Opcode:             int(b[2]>>3) & 0xF,
		Authoritative:      b[2]&0x04 != 0,
		Truncated:          b[2]&0x02 != 0,
		RecursionDesired:   b[2]&0x01 != 0,
		RecursionAvailable: b[3]&0x80 != 0,
		Zero:               b[3]&0x40 != 0,
		AuthenticatedData:  b[3]&0x20 != 0,
		CheckingDisabled:   b[3]&0x10 != 0,
		Rcode:              int(b[3] & 0x0F),
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// udpAddr is a's net.Addr, for what still takes one.
func udpAddr(a netip.AddrPort) net.Addr { return net.UDPAddrFromAddrPort(a) }
