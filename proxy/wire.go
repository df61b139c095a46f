package proxy

import (
	"encoding/binary"
	"errors"
)

// This file reads just enough of a packed DNS message to serve it again from
// the cache without unpacking it: where each TTL sits, and how long the
// question name is. Rendering a hit is then a copy and a few patched bytes.

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

// scanTTLs lists the TTL fields of every record in the packed message b,
// except the OPT pseudo-record whose TTL field holds flags. It also returns
// the length of the first question's name.
func scanTTLs(b []byte) (refs []ttlRef, qnameLen int, err error) {
	if len(b) < headerLen || len(b) > 0xFFFF {
		return nil, 0, errShortMsg
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	rrs := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) +
		int(binary.BigEndian.Uint16(b[10:]))
	off := headerLen
	for i := range qd {
		end, err := skipName(b, off)
		if err != nil {
			return nil, 0, err
		}
		if i == 0 {
			qnameLen = end - off
		}
		off = end + 4
	}
	refs = make([]ttlRef, 0, rrs)
	for range rrs {
		if off, err = skipName(b, off); err != nil {
			return nil, 0, err
		}
		if off+10 > len(b) {
			return nil, 0, errShortMsg
		}
		rtype := binary.BigEndian.Uint16(b[off:])
		if rtype != 41 { // OPT
			refs = append(refs, ttlRef{off: uint16(off + 4), ttl: binary.BigEndian.Uint32(b[off+4:])})
		}
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off > len(b) {
		return nil, 0, errShortMsg
	}
	return refs, qnameLen, nil
}
