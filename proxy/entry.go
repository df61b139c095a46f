package proxy

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// entry is one cached answer, kept packed with ID 0.
type entry struct {
	wire     []byte
	ttls     []ttlRef
	qnameLen int32 // int32s keep an entry at 112 bytes with soa
	rcode    int32
	stored   time.Time
	expires  time.Time
	// soa is the SOA an NXDOMAIN's failures report, unpacked when the
	// first is served (failureSOA); nil until then.
	soa atomic.Pointer[entrySOA]
}

// entrySOA is an entry's SOA record, and the offset of its TTL in the wire.
type entrySOA struct {
	rr     dns.SOA
	ttlOff int
}

// failureSOA is the SOA a failure served from e reports (Failure.SOA): for
// an NXDOMAIN, a copy of its SOA with the TTL in buf, e.wire as rendered
// for the client. The record is unpacked once, not on every hit.
func (e *entry) failureSOA(buf []byte) *dns.SOA {
	if e.rcode != dns.RcodeNameError {
		return nil
	}
	s := e.soa.Load()
	if s == nil {
		rr, off := wireSOA(e.wire)
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

// render writes the answer for req into buf (len(buf) == len(e.wire)) as it
// should leave at time now: the client's ID, RD bit and name case, and TTLs
// counted down by the time spent in the cache.
func (e *entry) render(buf []byte, req *dns.Msg, now time.Time) {
	copy(buf, e.wire)
	e.stamp(buf, req.Id, req.RecursionDesired, now)
	copyCase(buf[headerLen:headerLen+int(e.qnameLen)], req.Question[0].Name)
}

// stamp patches buf, a copy of e.wire, with the query's ID and RD bit and
// TTLs counted down by the time spent in the cache.
func (e *entry) stamp(buf []byte, id uint16, rd bool, now time.Time) {
	patchHeader(buf, id, rd)
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

// patchHeader gives the packed answer buf the query's ID and RD bit.
func patchHeader(buf []byte, id uint16, rd bool) {
	binary.BigEndian.PutUint16(buf, id)
	if rd {
		buf[2] |= 0x01
	} else {
		buf[2] &^= 0x01
	}
}

// copyCase writes the letter case of name, the client's spelling, over the
// packed name wire, which the cache key guarantees is the same name. Names
// with escapes (\. or \065) are packed the slow way; wire is restored if
// that fails.
func copyCase(wire []byte, name string) {
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
