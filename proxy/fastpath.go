package proxy

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
	"unsafe"
)

// The fast path answers the common UDP query, a plain question whose answer
// is cached, from the packet's bytes: no unpacking, no goroutine, no
// allocation. Everything it does not recognise goes to the full path
// (unpack, then ServeDNS), which gives the same answer more slowly.

// wireQuery is what the fast path reads from a packed query.
type wireQuery struct {
	id      uint16
	rd, cd  bool
	qname   []byte // the question name as packed, in the client's case
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	udpSize uint16
	bareOPT bool // the OPT record has no options and extended RCODE 0
}

// maxNameLen is the longest name in presentation form (RFC 1035 2.3.4).
const maxNameLen = 255

// parseQuery reads a plain query from b: opcode QUERY, one question with an
// uncompressed name of letters, digits, '-' and '_', a non-zero class and a
// type neither zero nor a zone transfer, no answer or authority records and
// at most an EDNS0 OPT record of version 0 with no options but NSID, cookie
// or padding, and nothing after it. It writes the lowercased name in
// presentation form, as the cache key holds it, into key and returns its
// length. Anything else gives ok false: miekg/dns's unpacking decides what
// it is.
func parseQuery(b []byte, q *wireQuery, key *[maxNameLen]byte) (n int, ok bool) {
	if len(b) < headerLen+5 || b[2]&0xF8 != 0 { // QR set or an opcode other than QUERY
		return 0, false
	}
	if be16(b[4:]) != 1 || be16(b[6:]) != 0 || be16(b[8:]) != 0 || be16(b[10:]) > 1 {
		return 0, false
	}
	q.id, q.rd, q.cd = be16(b), b[2]&0x01 != 0, b[3]&0x10 != 0
	off := headerLen
	for {
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		// A label longer than 63 is a pointer or an unknown label type. The
		// name, root label included, must fit in 255 bytes (RFC 1035 3.1).
		if l > 63 || off+l >= len(b) || off+l-headerLen >= maxNameLen {
			return 0, false
		}
		for _, c := range b[off : off+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default: // escaped in presentation form: leave it to miekg/dns
				return 0, false
			}
			key[n] = c
			n++
		}
		key[n] = '.'
		n++
		off += l
	}
	if n == 0 {
		key[0] = '.'
		n = 1
	}
	q.qname = b[headerLen:off]
	if off+4 > len(b) {
		return 0, false
	}
	q.qtype, q.qclass = be16(b[off:]), be16(b[off+2:])
	off += 4
	if q.qtype == 0 || q.qclass == 0 || q.qtype == 251 || q.qtype == 252 { // IXFR, AXFR: notForwarded's
		return 0, false
	}
	q.edns, q.do, q.udpSize, q.bareOPT = false, false, 0, false
	if be16(b[10:]) == 1 {
		if off, ok = parseOPT(b, off, q); !ok {
			return 0, false
		}
	}
	return n, off == len(b)
}

// parseOPT reads an EDNS0 OPT record of version 0 at off (RFC 6891 6.1.2)
// and returns the offset after it.
func parseOPT(b []byte, off int, q *wireQuery) (int, bool) {
	if off+11 > len(b) || b[off] != 0 || be16(b[off+1:]) != 41 || b[off+6] != 0 {
		return 0, false
	}
	q.edns, q.udpSize, q.do = true, be16(b[off+3:]), b[off+7]&0x80 != 0
	q.bareOPT = b[off+5] == 0 && be16(b[off+9:]) == 0
	end := off + 11 + int(be16(b[off+9:]))
	if end > len(b) {
		return 0, false
	}
	for o := off + 11; o < end; {
		if o+4 > end {
			return 0, false
		}
		switch be16(b[o:]) {
		case 3, 10, 12: // NSID, COOKIE, PADDING: miekg/dns unpacks any content
		default:
			return 0, false
		}
		o += 4 + int(be16(b[o+2:]))
		if o > end {
			return 0, false
		}
	}
	return end, true
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// flags are the cache key's flags, as keyOf makes them.
func (q *wireQuery) flags() uint8 { return keyFlags(q.cd, q.rd, q.edns, q.do) }

// limit is the largest answer the client gets over UDP.
func (q *wireQuery) limit(ceiling int) int { return clientUDPLimit(q.edns, q.udpSize, ceiling) }

// udpScratch is one UDP reader's memory for the fast path, and what
// serveUDPHit read from the last query, for startMiss.
type udpScratch struct {
	key [maxNameLen]byte
	out []byte

	slot int // the reader's number: its socket upstream (mux)

	q      wireQuery
	keyLen int
	rt     *routing
	now    time.Time
}

// k is the cache key of the query last read. Its name points into sc.key:
// the cache compares and hashes it but keeps no reference, so no string
// need be allocated per query.
func (sc *udpScratch) k() cacheKey {
	return cacheKey{name: unsafe.String(&sc.key[0], sc.keyLen), qtype: sc.q.qtype, qclass: sc.q.qclass, flags: sc.q.flags()}
}

// udpOutcome is what serveUDPHit did with a query.
type udpOutcome int

const (
	udpFull udpOutcome = iota // nothing: the full path takes it
	udpHit                    // answered it from the cache
	udpMiss                   // nothing is cached for it: startMiss may take it
)

// serveUDPHit answers pkt from the cache if it is a plain query with a
// cached successful answer that fits. Failures (observed and annotated),
// oversized answers, clients outside the ACL and logged queries take the
// full path.
func (s *Server) serveUDPHit(conn *net.UDPConn, pkt []byte, from netip.AddrPort, sc *udpScratch) udpOutcome {
	q := &sc.q
	n, ok := parseQuery(pkt, q, &sc.key)
	if !ok {
		return udpFull
	}
	rt := s.route.Load()
	if rt.logQueries || !allowed(rt.acl, from.Addr().Unmap()) {
		return udpFull
	}
	sc.keyLen, sc.rt, sc.now = n, rt, s.cfg.Now()
	if s.cache == nil {
		return udpMiss
	}
	e, ok := s.cache.get(sc.k(), sc.now)
	if !ok {
		return udpMiss
	}
	if isFailure(int(e.rcode)) || len(e.wire) > q.limit(s.cfg.MaxUDPSize) || int(e.qnameLen) != len(q.qname) {
		return udpFull
	}
	s.stats.queries.Add(1)
	s.stats.cacheHits.Add(1)
	s.stats.rcodes[e.rcode&0xF].Add(1)
	sc.out = append(sc.out[:0], e.wire...)
	e.stamp(sc.out, q.id, q.rd, sc.now)
	copy(sc.out[headerLen:], q.qname) // the client's spelling of the same name
	if s.cfg.Recorder != nil {
		// One more clock read, monotonic only (elapsed), before the write
		// as on the full path.
		s.cfg.Recorder.Answered("udp", int(e.rcode), true, sc.now, s.elapsed(sc.now))
	}
	if _, err := conn.WriteToUDPAddrPort(sc.out, from); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
	return udpHit
}
