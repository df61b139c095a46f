package dnscache

import (
	"encoding/binary"
	"errors"

	"github.com/miekg/dns"
)

// This file reads just enough of a packed DNS message to cache it and serve
// it again without unpacking it: where each TTL sits, how long the question
// name is, where the OPT record is, and the negative TTL of its SOA.
// Rendering a hit is then a copy and a few patched bytes.

const HeaderLen = 12

var errShortMsg = errors.New("message shorter than its header says")

// ttlRef is the offset of one resource record's TTL and its value when stored.
type ttlRef struct {
	off uint16
	ttl uint32
}

// SkipName returns the offset just past the domain name at off.
func SkipName(b []byte, off int) (int, error) {
	for {
		if off >= len(b) {
			return 0, errShortMsg
		}
		c := int(b[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, nil
			}
			off += 1 + c
		case 0xC0:
			if off+2 > len(b) {
				return 0, errShortMsg
			}
			return off + 2, nil
		default:
			return 0, errors.New("bad label type")
		}
	}
}

// Layout is what Scan reads from a packed message.
type Layout struct {
	refs     []ttlRef // every record's TTL but the OPT record's, which holds flags
	qnameLen int      // the length of the first question's name
	end      int      // where the last record ends: len(b) unless bytes trail
	opt      int      // the offset of the OPT record, -1 if there is none
	opts     int      // how many OPT records, anywhere
	optLast  bool     // the OPT record is in the additional section
	soa      bool     // the authority section has a SOA record (its first one below)
	soaTTL   uint32
	soaMin   uint32 // its MINIMUM, the negative TTL (RFC 2308)
}

// OPT is the offset of the message's OPT record, -1 if it has none.
func (l *Layout) OPT() int { return l.opt }

// Scan reads the layout of the packed message b, checking that every
// name and record it holds fits in b.
func Scan(b []byte) (Layout, error) { return scan(b, false) }

// errNotPlain is a message scan(b, true) does not vouch for.
var errNotPlain = errors.New("not a message to pass on unread")

// scan is Scan. When strict, it also checks every name as miekg/dns
// would read it (validName) and the data of every record (validData), and
// fails on record types it does not know: what it passes, unpacking reads.
func scan(b []byte, strict bool) (l Layout, err error) {
	if len(b) < HeaderLen || len(b) > 0xFFFF {
		return l, errShortMsg
	}
	name := SkipName
	if strict {
		name = validName
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an, ns := int(binary.BigEndian.Uint16(b[6:])), int(binary.BigEndian.Uint16(b[8:]))
	rrs := an + ns + int(binary.BigEndian.Uint16(b[10:]))
	off := HeaderLen
	for i := range qd {
		end, err := name(b, off)
		if err != nil {
			return l, err
		}
		if i == 0 {
			l.qnameLen = end - off
		}
		off = end + 4
	}
	// A record takes 11 bytes at least: the counts cannot make us allocate
	// more than the message could hold.
	l.refs, l.opt = make([]ttlRef, 0, min(rrs, len(b)/11)), -1
	for i := range rrs {
		start := off
		if off, err = name(b, off); err != nil {
			return l, err
		}
		if off+10 > len(b) {
			return l, errShortMsg
		}
		rtype := binary.BigEndian.Uint16(b[off:])
		ttl := binary.BigEndian.Uint32(b[off+4:])
		rdEnd := off + 10 + int(binary.BigEndian.Uint16(b[off+8:]))
		if strict && (rdEnd > len(b) || !validData(b[:rdEnd], rtype, off+10)) {
			return l, errNotPlain
		}
		switch {
		case rtype == dns.TypeOPT:
			l.opts++
			l.opt, l.optLast = start, i >= an+ns
		default:
			l.refs = append(l.refs, ttlRef{off: uint16(off + 4), ttl: ttl})
			if rtype == dns.TypeSOA && i >= an && i < an+ns && !l.soa && rdEnd <= len(b) {
				l.soa, l.soaTTL, l.soaMin = true, ttl, soaMinimum(b[:rdEnd], off+10)
			}
		}
		off = rdEnd
	}
	if off > len(b) {
		return l, errShortMsg
	}
	l.end = off
	return l, nil
}

// maxPointers bounds the compression pointers followed in one name, below
// miekg/dns's bound (126).
const maxPointers = 64

// validName checks the name at off as miekg/dns reads it, with compression
// pointers only back into the message past its header (RFC 1035 4.1.4: to
// a prior occurrence), so that no chain of them loops, at most maxPointers
// of them, and at most 255 octets in all. It returns the offset just past
// the name.
func validName(b []byte, off int) (int, error) {
	end, total, hops := -1, 1, 0 // total counts the root label
	for {
		if off >= len(b) {
			return 0, errShortMsg
		}
		c := int(b[off])
		switch {
		case c == 0:
			if end < 0 {
				end = off + 1
			}
			return end, nil
		case c < 64:
			if total += 1 + c; total > 255 || off+1+c > len(b) {
				return 0, errNotPlain
			}
			off += 1 + c
		case c&0xC0 == 0xC0 && off+2 <= len(b):
			ptr := int(binary.BigEndian.Uint16(b[off:]) & 0x3FFF)
			if hops++; ptr >= off || ptr < HeaderLen || hops > maxPointers {
				return 0, errNotPlain
			}
			if end < 0 {
				end = off + 2
			}
			off = ptr
		default:
			return 0, errNotPlain
		}
	}
}

// validData says whether the data of a record of type rtype, from off to
// the end of b, is what that type holds, for the types a plain answer may
// carry; any other type is not.
func validData(b []byte, rtype uint16, off int) bool {
	n := len(b) - off
	names := func(off, count int) int { // the offset after count names, or -1
		for range count {
			end, err := validName(b, off)
			if err != nil {
				return -1
			}
			off = end
		}
		return off
	}
	switch rtype {
	case dns.TypeA:
		return n == 4
	case dns.TypeAAAA:
		return n == 16
	case dns.TypeNS, dns.TypeCNAME, dns.TypePTR:
		return names(off, 1) == len(b)
	case dns.TypeMX:
		return n > 2 && names(off+2, 1) == len(b)
	case dns.TypeSRV:
		return n > 6 && names(off+6, 1) == len(b)
	case dns.TypeSOA:
		end := names(off, 2)
		return end >= 0 && end+20 == len(b)
	case dns.TypeTXT:
		for off < len(b) {
			off += 1 + int(b[off])
		}
		return n > 0 && off == len(b)
	case dns.TypeOPT:
		return n == 0 // and no options
	}
	return false
}

// soaMinimum reads the MINIMUM of the SOA record data at off, which ends
// where b does: 0 unless the data is whole, as miekg/dns reads data cut
// short after a field.
func soaMinimum(b []byte, off int) uint32 {
	off, err := SkipName(b, off)
	if err != nil {
		return 0
	}
	if off, err = SkipName(b, off); err != nil || off+20 != len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off+16:])
}

// WireSOA unpacks the first SOA record in the authority section of the
// packed message b, as miekg/dns would read it there, and returns it with
// the offset of its TTL; nil if there is none or b does not read as far as
// it. It skips what comes before it as scan does, and it allocates: it is
// for failures only.
func WireSOA(b []byte) (*dns.SOA, int) {
	if len(b) < HeaderLen {
		return nil, 0
	}
	off, err := HeaderLen, error(nil)
	for range be16(b[4:]) {
		if off, err = SkipName(b, off); err != nil {
			return nil, 0
		}
		off += 4
	}
	an, ns := int(be16(b[6:])), int(be16(b[8:]))
	for i := range an + ns {
		start := off
		if off, err = SkipName(b, off); err != nil || off+10 > len(b) {
			return nil, 0
		}
		if i >= an && be16(b[off:]) == dns.TypeSOA {
			rr, _, uerr := dns.UnpackRR(b, start)
			if uerr != nil {
				return nil, 0
			}
			// One without data unpacks as a bare header: not a SOA to
			// report, as it is not in the unpacked message's authority.
			if s, ok := rr.(*dns.SOA); ok {
				return s, off + 4
			}
		}
		off += 10 + int(be16(b[off+8:]))
	}
	return nil, 0
}
