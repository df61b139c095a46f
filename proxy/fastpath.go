package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

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

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// wireLimit is the largest answer the client of q gets over UDP.
func wireLimit(q *dnscache.Query, ceiling int) int { return clientUDPLimit(q.EDNS, q.UDPSize, ceiling) }

// udpScratch is one UDP reader's memory for the fast path, and what
// serveUDPHit read from the last query, for startMiss.
type udpScratch struct {
	key [dnscache.MaxNameLen]byte
	out []byte

	slot int // the reader's number: its socket upstream (mux)

	q      dnscache.Query
	keyLen int
	rt     *routing
	now    time.Time
}

// k is the cache key of the query last read. Its name points into sc.key:
// the cache compares and hashes it but keeps no reference, so no string
// need be allocated per query.
func (sc *udpScratch) k() dnscache.Key {
	return sc.q.Key(unsafe.String(&sc.key[0], sc.keyLen))
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
	n, ok := dnscache.ParseQuery(pkt, q, &sc.key)
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
	e, ok := s.cache.Get(sc.k(), sc.now)
	if !ok {
		return udpMiss
	}
	if isFailure(e.Rcode()) || len(e.Wire()) > wireLimit(q, s.cfg.MaxUDPSize) || e.QnameLen() != len(q.Qname) {
		return udpFull
	}
	s.stats.queries.Add(1)
	s.stats.cacheHits.Add(1)
	s.stats.rcodes[e.Rcode()&0xF].Add(1)
	sc.out = append(sc.out[:0], e.Wire()...)
	e.Stamp(sc.out, q.ID, q.RD, sc.now)
	copy(sc.out[dnscache.HeaderLen:], q.Qname) // the client's spelling of the same name
	if s.cfg.Recorder != nil {
		// One more clock read, monotonic only (elapsed), before the write
		// as on the full path.
		s.cfg.Recorder.Answered("udp", e.Rcode(), true, sc.now, s.elapsed(sc.now))
	}
	if _, err := conn.WriteToUDPAddrPort(sc.out, from); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
	return udpHit
}
