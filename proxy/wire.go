package proxy

import (
	"encoding/binary"
	"errors"

	"github.com/miekg/dns"
)

// This file reads just enough of a packed DNS message to cache it and serve
// it again without unpacking it: where each TTL sits, how long the question
// name is, where the OPT record is, and the negative TTL of its SOA.
// Rendering a hit is then a copy and a few patched bytes.

const headerLen = 12

var errShortMsg = errors.New("message shorter than its header says")

// ttlRef is the offset of one resource record's TTL and its value when stored.
type ttlRef struct {
	off uint16
	ttl uint32
}

// skipName returns the offset just past the domain name at off.
func skipName(b []byte, off int) (int, error) {
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

// layout is what scanMsg reads from a packed message.
type layout struct {
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

// scanMsg reads the layout of the packed message b, checking that every
// name and record it holds fits in b.
func scanMsg(b []byte) (l layout, err error) {
	if len(b) < headerLen || len(b) > 0xFFFF {
		return l, errShortMsg
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an, ns := int(binary.BigEndian.Uint16(b[6:])), int(binary.BigEndian.Uint16(b[8:]))
	rrs := an + ns + int(binary.BigEndian.Uint16(b[10:]))
	off := headerLen
	for i := range qd {
		end, err := skipName(b, off)
		if err != nil {
			return l, err
		}
		if i == 0 {
			l.qnameLen = end - off
		}
		off = end + 4
	}
	l.refs, l.opt = make([]ttlRef, 0, rrs), -1
	for i := range rrs {
		start := off
		if off, err = skipName(b, off); err != nil {
			return l, err
		}
		if off+10 > len(b) {
			return l, errShortMsg
		}
		rtype := binary.BigEndian.Uint16(b[off:])
		ttl := binary.BigEndian.Uint32(b[off+4:])
		rdEnd := off + 10 + int(binary.BigEndian.Uint16(b[off+8:]))
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

// soaMinimum reads the MINIMUM of the SOA record data at off, which ends
// where b does: 0 unless the data is whole, as miekg/dns reads data cut
// short after a field.
func soaMinimum(b []byte, off int) uint32 {
	off, err := skipName(b, off)
	if err != nil {
		return 0
	}
	if off, err = skipName(b, off); err != nil || off+20 != len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off+16:])
}
