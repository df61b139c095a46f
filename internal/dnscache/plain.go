package dnscache

import (
	"bytes"
	"encoding/binary"

	"github.com/miekg/dns"
)

// PlainAnswer says whether b is an answer to the packed query q that needs
// no unpacking to be cached and served, and gives its Layout: q's ID and question (names compared
// without case), NOERROR or NXDOMAIN, not truncated, every name and record
// well formed and of a common type (scan, strict), nothing after them, and
// no OPT record but one in the additional section, of version 0 and without
// options, present if q has one. Most answers are; the rest are unpacked
// into a *dns.Msg, which ServeDNS fits to the client (OPT record,
// attribution) before it caches and writes it.
func PlainAnswer(b, q []byte) (Layout, bool) {
	if len(b) < HeaderLen || len(q) < HeaderLen || b[0] != q[0] || b[1] != q[1] ||
		b[2]&0xFA != 0x80 || (b[3]&0xF != dns.RcodeSuccess && b[3]&0xF != dns.RcodeNameError) || // QR, QUERY, no TC
		binary.BigEndian.Uint16(b[4:]) != 1 {
		return Layout{}, false
	}
	qend, err := SkipName(q, HeaderLen)
	if err != nil || qend+4 > len(q) || len(b) < qend+4 || !EqualFold(b[HeaderLen:qend], q[HeaderLen:qend]) ||
		!bytes.Equal(b[qend:qend+4], q[qend:qend+4]) {
		return Layout{}, false
	}
	l, err := scan(b, true)
	if err != nil || l.end != len(b) || l.opts > 1 {
		return Layout{}, false
	}
	if l.opt < 0 {
		return l, binary.BigEndian.Uint16(q[10:]) == 0 // the query had no OPT either
	}
	if binary.BigEndian.Uint16(q[10:]) == 0 {
		return l, false // an OPT record the query did not ask for
	}
	o := l.opt // the owner (root), type, UDP size, extended RCODE, version, flags, RDLENGTH 0
	return l, l.optLast && o+11 <= len(b) && b[o] == 0 && b[o+5] == 0 && b[o+6] == 0 && b[o+9] == 0 && b[o+10] == 0
}

// EqualFold compares packed names, ASCII letters without case (a label's
// length, at most 63, is never a letter).
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
