package dnscache

import "encoding/binary"

// The query scanner reads the common query, a plain question, from the
// packet's bytes, so that a cache hit is answered without unpacking it.
// Everything it does not recognise is left to miekg/dns's unpacking, which
// reads the same query more slowly.

// Query is what ParseQuery reads from a packed query.
type Query struct {
	ID      uint16
	RD, CD  bool
	Qname   []byte // the question name as packed, in the client's case
	Qtype   uint16
	Qclass  uint16
	EDNS    bool
	DO      bool
	UDPSize uint16
	BareOPT bool // the OPT record has no options and extended RCODE 0
}

// MaxNameLen is the longest name in presentation form (RFC 1035 2.3.4).
const MaxNameLen = 255

// ParseQuery reads a plain query from b: opcode QUERY, one question with an
// uncompressed name of letters, digits, '-' and '_', a non-zero class and a
// type neither zero nor a zone transfer, no answer or authority records and
// at most an EDNS0 OPT record of version 0 with no options but NSID, cookie
// or padding, and nothing after it. It writes the lowercased name in
// presentation form, as the cache key holds it, into key and returns its
// length. Anything else gives ok false: miekg/dns's unpacking decides what
// it is.
func ParseQuery(b []byte, q *Query, key *[MaxNameLen]byte) (n int, ok bool) {
	if len(b) < HeaderLen+5 || b[2]&0xF8 != 0 { // QR set or an opcode other than QUERY
		return 0, false
	}
	if be16(b[4:]) != 1 || be16(b[6:]) != 0 || be16(b[8:]) != 0 || be16(b[10:]) > 1 {
		return 0, false
	}
	q.ID, q.RD, q.CD = be16(b), b[2]&0x01 != 0, b[3]&0x10 != 0
	off := HeaderLen
	for {
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		// A label longer than 63 is a pointer or an unknown label type. The
		// name, root label included, must fit in 255 bytes (RFC 1035 3.1).
		if l > 63 || off+l >= len(b) || off+l-HeaderLen >= MaxNameLen {
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
	q.Qname = b[HeaderLen:off]
	if off+4 > len(b) {
		return 0, false
	}
	q.Qtype, q.Qclass = be16(b[off:]), be16(b[off+2:])
	off += 4
	if q.Qtype == 0 || q.Qclass == 0 || q.Qtype == 251 || q.Qtype == 252 { // IXFR, AXFR: the proxy refuses them
		return 0, false
	}
	q.EDNS, q.DO, q.UDPSize, q.BareOPT = false, false, 0, false
	if be16(b[10:]) == 1 {
		if off, ok = parseOPT(b, off, q); !ok {
			return 0, false
		}
	}
	return n, off == len(b)
}

// parseOPT reads an EDNS0 OPT record of version 0 at off (RFC 6891 6.1.2)
// and returns the offset after it.
func parseOPT(b []byte, off int, q *Query) (int, bool) {
	if off+11 > len(b) || b[off] != 0 || be16(b[off+1:]) != 41 || b[off+6] != 0 {
		return 0, false
	}
	q.EDNS, q.UDPSize, q.DO = true, be16(b[off+3:]), b[off+7]&0x80 != 0
	q.BareOPT = b[off+5] == 0 && be16(b[off+9:]) == 0
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

// Key is q's cache key, as KeyOf makes it, for its name in presentation
// form, lowercased: what ParseQuery wrote into its key buffer. The cache
// keeps no reference to a key it looks up, so name may point into that
// buffer (unsafe.String) and need not be allocated per query.
func (q *Query) Key(name string) Key {
	return Key{Name: name, Qtype: q.Qtype, Qclass: q.Qclass, Flags: KeyFlags(q.CD, q.RD, q.EDNS, q.DO)}
}
