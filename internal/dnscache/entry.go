package dnscache

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Entry is one cached answer, kept packed with ID 0.
type Entry struct {
	wire     []byte
	ttls     []ttlRef
	qnameLen int32 // int32s keep an Entry at 112 bytes with soa
	rcode    int32
	stored   time.Time
	expires  time.Time
	// soa is the SOA an NXDOMAIN's failures report, unpacked when the
	// first is served (failureSOA); nil until then.
	soa atomic.Pointer[entrySOA]
}

// Wire is the packed answer, ID 0, as cached: callers copy it, never write it.
func (e *Entry) Wire() []byte { return e.wire }

// Rcode is the answer's rcode.
func (e *Entry) Rcode() int { return int(e.rcode) }

// QnameLen is the length of the packed question name in Wire.
func (e *Entry) QnameLen() int { return int(e.qnameLen) }

// entrySOA is an Entry's SOA record, and the offset of its TTL in the wire.
type entrySOA struct {
	rr     dns.SOA
	ttlOff int
}

// FailureSOA is the SOA a failure served from e reports (proxy.Failure.SOA): for
// an NXDOMAIN, a copy of its SOA with the TTL in buf, e.wire as rendered
// for the client. The record is unpacked once, not on every hit.
func (e *Entry) FailureSOA(buf []byte) *dns.SOA {
	if e.rcode != dns.RcodeNameError {
		return nil
	}
	s := e.soa.Load()
	if s == nil {
		rr, off := WireSOA(e.wire)
		if rr == nil {
			return nil
		}
		s = &entrySOA{rr: *rr, ttlOff: off}
		e.soa.Store(s) // racing hits store the same
	}
	c := s.rr // its strings are never written: the copy may share them
	c.Hdr.Ttl = binary.BigEndian.Uint32(buf[s.ttlOff:])
	return &c
}

// Render writes the answer for req into buf (len(buf) == len(e.wire)) as it
// should leave at time now: the client's ID, RD bit and name case, and TTLs
// counted down by the time spent in the cache.
func (e *Entry) Render(buf []byte, req *dns.Msg, now time.Time) {
	copy(buf, e.wire)
	e.Stamp(buf, req.Id, req.RecursionDesired, now)
	CopyCase(buf[HeaderLen:HeaderLen+int(e.qnameLen)], req.Question[0].Name)
}

// Stamp patches buf, a copy of e.wire, with the query's ID and RD bit and
// TTLs counted down by the time spent in the cache.
func (e *Entry) Stamp(buf []byte, id uint16, rd bool, now time.Time) {
	PatchHeader(buf, id, rd)
	age := uint32(now.Sub(e.stored) / time.Second)
	left := uint32((e.expires.Sub(now) + time.Second - 1) / time.Second)
	for _, r := range e.ttls {
		ttl := uint32(0)
		if r.ttl > age {
			ttl = r.ttl - age
		}
		binary.BigEndian.PutUint32(buf[r.off:], min(ttl, left))
	}
}

// PatchHeader gives the packed answer buf the query's ID and RD bit.
func PatchHeader(buf []byte, id uint16, rd bool) {
	binary.BigEndian.PutUint16(buf, id)
	if rd {
		buf[2] |= 0x01
	} else {
		buf[2] &^= 0x01
	}
}

// CopyCase writes the letter case of name, the client's spelling, over the
// packed name wire, which the cache key guarantees is the same name. Names
// with escapes (\. or \065) are packed the slow way; wire is restored if
// that fails.
func CopyCase(wire []byte, name string) {
	if strings.IndexByte(name, '\\') < 0 {
		i, j := 0, 0
		for i < len(wire) && wire[i] != 0 {
			n := int(wire[i])
			i++
			if i+n > len(wire) || j+n > len(name) {
				return
			}
			copy(wire[i:i+n], name[j:j+n])
			i += n
			j += n + 1 // the dot
		}
		return
	}
	var packed [256]byte
	if n, err := dns.PackDomainName(name, packed[:], 0, nil, false); err == nil && n == len(wire) {
		copy(wire, packed[:n])
	}
}
