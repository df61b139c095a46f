package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The fast miss path forwards a plain UDP query (parseQuery) that the cache
// cannot answer from the reader that read it: the reader sends it upstream
// on a shared socket (mux.go) and goes back to reading, and the socket's
// responder finishes it when the answer comes. A plain final answer
// (plainAnswer, pool.final) is cached and written there and then; anything
// else (a timeout, a failover rcode, a truncated or unusual answer, a
// failure to explain) goes on a goroutine of its own to the full path's
// code, which tries the next upstreams and writes what it would have.

// fastMiss is one query on the fast miss path.
type fastMiss struct {
	s     *Server
	us    *udpServer
	rt    *routing
	from  netip.AddrPort
	pkt   []byte // the client's query
	q     []byte // the query sent upstream: pkt under another ID
	wq    dnscache.Query
	key   dnscache.Key
	now   time.Time
	order []*upstream // order[0] is asked first
	win   tryWindow
	end   time.Time // the query's deadline; send sets it and win

	sock *muxSock
	id   uint16
	try  int // its index in sock.tries

	buf [2 * maxMissLen]byte // pkt and q, in the one allocation
}

// maxMissLen is the longest query the fast miss path takes: a header, a
// 255-byte name, type and class, and a bare OPT record.
const maxMissLen = dnscache.HeaderLen + dnscache.MaxNameLen + 4 + 11

// startMiss sends the plain query pkt, which serveUDPHit read into sc and
// found nothing cached for, upstream on the fast miss path, and says
// whether it did; if not, the full path takes it. It does not when the
// first upstream is not UDP, the strategy is parallel, or the query has
// EDNS0 options.
func (s *Server) startMiss(us *udpServer, pkt []byte, from netip.AddrPort, sc *udpScratch) bool {
	rt, wq := sc.rt, &sc.q
	p := rt.pool
	if p.cfg.strategy == "parallel" || (wq.EDNS && !wq.BareOPT) || len(pkt) > maxMissLen {
		return false
	}
	order := p.order()
	if len(order) == 0 || order[0].Net != "udp" {
		return false
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		return false // the full path answers SERVFAIL and counts it
	}
	m := &fastMiss{s: s, us: us, rt: rt, from: from, wq: *wq, now: sc.now, order: order}
	m.pkt, m.q = m.buf[:len(pkt):len(pkt)], m.buf[len(pkt):2*len(pkt):2*len(pkt)]
	copy(m.pkt, pkt)
	m.wq.Qname = m.pkt[dnscache.HeaderLen : dnscache.HeaderLen+len(wq.Qname)]
	m.key = sc.k()
	m.key.Name = strings.Clone(m.key.Name)
	upstreamWire(m.q, m.pkt, wq)
	// Counted before the send: the answer may be written before it returns.
	s.stats.queries.Add(1)
	if s.cache != nil {
		s.stats.cacheMisses.Add(1)
	}
	us.workers.Add(1)
	if err := order[0].mux().send(m, sc.slot); err != nil {
		us.workers.Done()
		<-s.inflight
		s.stats.queries.Add(^uint64(0))
		if s.cache != nil {
			s.stats.cacheMisses.Add(^uint64(0))
		}
		return false
	}
	return true
}

// upstreamWire writes into q (as long as pkt) the plain query pkt as
// upstreamQuery would pack it, but for the ID, which send sets: QR, AA, TC
// and RA cleared, and an OPT record, without options, offering nxray's
// buffer size with no flags but DO.
func upstreamWire(q, pkt []byte, wq *dnscache.Query) {
	copy(q, pkt)
	q[2] &= 0x79
	q[3] &= 0x7F
	if wq.EDNS {
		o := len(q) - 11 // a bare OPT record ends the query
		binary.BigEndian.PutUint16(q[o+3:], maxUDPSize)
		q[o+7] &= 0x80
		q[o+8] = 0
	}
}

func (m *fastMiss) setID(id uint16) { binary.BigEndian.PutUint16(m.q, id) }

// accept reads b, an answer carrying m's ID: plain (see plainAnswer), or
// unpacked if it matches m's question; false if it is not m's answer. A
// plain reply's raw is b, which the caller reuses once tried returns.
func (m *fastMiss) accept(b []byte) (reply, bool) {
	if l, ok := dnscache.PlainAnswer(b, m.q); ok {
		return reply{raw: b, lay: l}, true
	}
	r := new(dns.Msg)
	if r.Unpack(b) != nil || !matches(r, m.id, m.question()) {
		return reply{}, false
	}
	return reply{msg: r}, true
}

// question is m's question, its name lowercased.
func (m *fastMiss) question() dns.Question {
	return dns.Question{Name: m.key.Name, Qtype: m.wq.Qtype, Qclass: m.wq.Qclass}
}

// tried finishes m after its try gave r or err: here if r is a plain final
// answer that needs nothing more, else on a goroutine of its own. r.raw is
// the responder's buffer, valid until tried returns.
func (m *fastMiss) tried(r reply, err error) {
	if err == nil && r.raw != nil && m.rt.pool.final(r) && rawFits(r.raw, &r.lay, m.wq.EDNS, wireLimit(&m.wq, m.s.cfg.MaxUDPSize)) &&
		(m.rt.annotator == nil || !m.wq.EDNS || !isFailure(r.rcode())) {
		m.s.finishFast(m, r)
		return
	}
	r.raw = bytes.Clone(r.raw)
	go m.slow(r, err)
}

// finishFast does what finishMiss does for a plain answer that goes to the
// client as it came, from r.raw, the responder's buffer; the cache keeps a
// copy of its own.
func (s *Server) finishFast(m *fastMiss, r reply) {
	defer m.us.workers.Done()
	p := m.rt.pool
	raw := r.raw
	binary.BigEndian.PutUint16(raw, 0)
	rcode := int(raw[3] & 0xF)
	if p.cfg.recorder != nil {
		p.cfg.recorder.Tried(m.order[0].String(), time.Since(m.win.start), rcode, nil)
	}
	m.order[0].answered()
	if s.cache != nil {
		s.cache.PutWire(m.key, raw, &r.lay, m.now, false)
	}
	if isFailure(rcode) && s.cfg.Observer != nil {
		s.cfg.Observer.Observe(Failure{Time: m.now, Client: m.from.Addr().Unmap(), Name: m.spelled(),
			Qtype: m.wq.Qtype, Qclass: m.wq.Qclass, Rcode: rcode, Upstream: m.order[0].String(),
			SOA: failureSOA(rcode, nil, raw)})
	}
	s.stats.rcodes[rcode&0xF].Add(1)
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.Answered("udp", rcode, false, m.now, s.elapsed(m.now))
	}
	<-s.inflight
	dnscache.PatchHeader(raw, m.wq.ID, m.wq.RD)
	copy(raw[dnscache.HeaderLen:], m.wq.Qname) // the client's spelling
	if _, err := m.us.conn.WriteToUDPAddrPort(raw, m.from); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
}

// spelled is m's question name as the client spelled it, in presentation
// form: its labels hold nothing that needs escaping (parseQuery).
func (m *fastMiss) spelled() string {
	q := m.wq.Qname
	if !bytes.ContainsFunc(q, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		return m.key.Name
	}
	b := make([]byte, 0, len(m.key.Name))
	for off := 0; q[off] != 0; off += 1 + int(q[off]) {
		b = append(append(b, q[off+1:off+1+int(q[off])]...), '.')
	}
	return string(b)
}

// slow finishes m the full path's way after its first try gave r or err:
// over TCP if r is truncated, on to the next upstreams if there is no final
// answer, then finishMiss.
func (m *fastMiss) slow(r reply, err error) {
	defer m.us.workers.Done()
	s, p := m.s, m.rt.pool
	released := false
	release := func() {
		if !released {
			<-s.inflight
			released = true
		}
	}
	defer release()
	req := new(dns.Msg)
	if uerr := req.Unpack(m.pkt); uerr != nil {
		// parseQuery took it, so miekg/dns reads it; should it not, the
		// client gets what the full path gives a packet it cannot read.
		s.log.Warn("plain query does not unpack", "error", uerr.Error())
		return
	}
	w := &udpWriter{conn: m.us.conn, to: m.from}
	q := req.Question[0]
	up := m.order[0]
	r, err = up.settle(s.ctx, false, "udp", m.q, m.id, q, m.win.end, r, err)
	first := p.tried(s.ctx, up, m.win, q, r, err)
	a, err := p.sequence(s.ctx, m.end, &first, m.order[1:], m.q, m.id, q)
	s.finishMiss(w, req, m.key, m.now, m.from.Addr().Unmap(), m.rt, a, err, release)
}
