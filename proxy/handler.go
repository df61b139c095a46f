package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// serveWire answers the packed query b, as read from UDP or TCP, the full
// way, with miekg/dns's server's rules for what is not a query it accepts:
// responses and runts get no answer (any answer could be used for
// amplification), other opcodes NOTIMP, more records than a query has or an
// unpacking error FORMERR.
func (s *Server) serveWire(w dns.ResponseWriter, b []byte) {
	if len(b) < dnscache.HeaderLen || b[2]&0x80 != 0 {
		return
	}
	req := &dns.Msg{MsgHdr: header(b)}
	switch {
	case req.Opcode != dns.OpcodeQuery && req.Opcode != dns.OpcodeNotify:
		w.WriteMsg(rejection(req, dns.RcodeNotImplemented))
	case be16(b[4:]) != 1 || be16(b[6:]) > 1 || be16(b[8:]) > 1 || be16(b[10:]) > 2:
		w.WriteMsg(rejection(req, dns.RcodeFormatError))
	case req.Unpack(b) != nil: // req keeps what did unpack: the question, if that much
		w.WriteMsg(rejection(req, dns.RcodeFormatError))
	default:
		s.ServeDNS(w, req)
	}
}

// header reads the header of the packed message b (len(b) >= dnscache.HeaderLen).
func header(b []byte) dns.MsgHdr {
	return dns.MsgHdr{
		Id:                 binary.BigEndian.Uint16(b),
		Response:           b[2]&0x80 != 0,
		Opcode:             int(b[2]>>3) & 0xF,
		Authoritative:      b[2]&0x04 != 0,
		Truncated:          b[2]&0x02 != 0,
		RecursionDesired:   b[2]&0x01 != 0,
		RecursionAvailable: b[3]&0x80 != 0,
		Zero:               b[3]&0x40 != 0,
		AuthenticatedData:  b[3]&0x20 != 0,
		CheckingDisabled:   b[3]&0x10 != 0,
		Rcode:              int(b[3] & 0x0F),
	}
}

// rejection turns req, the query as far as it was read, into miekg/dns's
// server's answer to what it does not accept: the header with QR set, AA
// and Z cleared and the rcode (NOTIMP keeps the opcode), the question if it
// was read, no records.
func rejection(req *dns.Msg, rcode int) *dns.Msg {
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if rcode == dns.RcodeNotImplemented {
		req.Opcode, req.Rcode = opcode, rcode
	}
	req.Answer, req.Ns, req.Extra = nil, nil, nil
	return req
}

// ServeDNS answers one query: ACL, cache, upstreams, observer, write. Each
// query is served on a goroutine of its own (a UDP worker, a TCP query's, or
// miekg/dns's for UDP on a wildcard address), whose caller owns req.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	now := s.cfg.Now()
	s.stats.queries.Add(1)
	rt := s.route.Load()
	client := clientAddr(w)
	if !allowed(rt.acl, client) {
		s.stats.aclRefused.Add(1)
		s.reply(w, req, dns.RcodeRefused, now)
		return
	}
	if req.Opcode != dns.OpcodeQuery { // NOTIFY, UPDATE, DSO: not a forwarder's
		s.reply(w, req, dns.RcodeNotImplemented, now)
		return
	}
	// miekg/dns takes a question cut short after its name as type and
	// class 0; neither is a question anyone can answer.
	if len(req.Question) != 1 || req.Question[0].Qtype == 0 || req.Question[0].Qclass == 0 {
		s.reply(w, req, dns.RcodeFormatError, now)
		return
	}
	if r := notForwarded(req); r.rcode != dns.RcodeSuccess {
		s.refuse(w, req, r, now)
		return
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		s.reply(w, req, dns.RcodeBadVers, now) // RFC 6891 section 6.1.3
		return
	}
	key := dnscache.KeyOf(req, opt)
	if s.cache != nil {
		if e, ok := s.cache.Get(key, now); ok {
			s.serveHit(w, req, e, now, client, rt)
			return
		}
		s.stats.cacheMisses.Add(1)
	}
	s.serveMiss(w, req, key, now, client, rt)
}

// serveHit writes a cached answer, patched in place for this client.
func (s *Server) serveHit(w dns.ResponseWriter, req *dns.Msg, e *dnscache.Entry, now time.Time, client netip.Addr, rt *routing) {
	s.stats.cacheHits.Add(1)
	q := req.Question[0]
	bp := outBuf(len(e.Wire()))
	buf := *bp
	e.Render(buf, req, now)
	rcode := e.Rcode()
	if isFailure(rcode) && s.cfg.Observer != nil {
		// Its SOA from the rendered answer: with the TTL counted down.
		s.cfg.Observer.Observe(Failure{Time: now, Client: client, Name: q.Name, Qtype: q.Qtype,
			Qclass: q.Qclass, Rcode: rcode, Cached: true, SOA: e.FailureSOA(buf)})
	}
	var m *dns.Msg
	if (isUDP(w) && len(buf) > udpLimit(req, s.cfg.MaxUDPSize)) || (isFailure(rcode) && rt.annotator != nil) {
		// Too big for this client's buffer, or a failure to explain: the
		// slow path, off the hot path of successful hits.
		m = new(dns.Msg)
		if err := m.Unpack(buf); err != nil {
			s.log.Warn("cached answer does not unpack", "name", q.Name, "error", err.Error())
			m, rcode = rcodeOnly(req, dns.RcodeServerFailure), dns.RcodeServerFailure
		} else {
			s.annotate(m, q, s.limitFor(w, req), rt.annotator, 0)
		}
	}
	// Counted and logged before the write, as finishMiss does.
	s.stats.rcodes[rcode&0xF].Add(1)
	if s.reports(rt) {
		s.report(rt, &served{proto: protoOf(isUDP(w)), client: client, q: q, rcode: rcode, cached: true, start: now})
	}
	if m != nil {
		s.write(w, req, m)
	} else {
		w.Write(buf)
	}
	putOut(bp)
}

// serveMiss forwards the query, caches the answer and writes it.
func (s *Server) serveMiss(w dns.ResponseWriter, req *dns.Msg, key dnscache.Key, now time.Time, client netip.Addr, rt *routing) {
	select {
	case s.inflight <- struct{}{}:
	default:
		s.stats.overloaded.Add(1)
		s.reply(w, req, dns.RcodeServerFailure, now)
		return
	}
	// The slot is for the upstreams' time: it is given back before the
	// write, which a TCP client that does not read can hold up.
	held := true
	release := func() {
		if held {
			<-s.inflight
			held = false
		}
	}
	defer release()
	q := req.Question[0]
	qp := queryBufPool.Get().(*[]byte)
	defer queryBufPool.Put(qp)
	wire, id, err := upstreamQuery(req, *qp)
	if err != nil {
		s.reply(w, req, dns.RcodeFormatError, now)
		return
	}
	// No context per query: the deadline goes down to the sockets, and
	// shutdown interrupts the pool's sockets itself (Server.abort).
	a, err := rt.pool.exchange(s.ctx, time.Now().Add(s.cfg.Deadline), wire, id, q)
	s.finishMiss(w, req, key, now, client, rt, a, err, release)
}

// finishMiss caches the answer a (or turns err into SERVFAIL), reports a
// failure, gives back the query's in-flight slot (release) and writes the
// answer.
func (s *Server) finishMiss(w dns.ResponseWriter, req *dns.Msg, key dnscache.Key, now time.Time, client netip.Addr, rt *routing, a answer, err error, release func()) {
	q := req.Question[0]
	clientEDNS, limit := req.IsEdns0() != nil, s.limitFor(w, req)
	upstream := ""
	if a.up != nil {
		upstream = a.up.String()
	}
	// A plain answer (plainAnswer) is cached and sent as it came, after
	// the changes fitOPT would make; the rest are unpacked.
	if err == nil && a.raw != nil && !rawFits(a.raw, &a.lay, clientEDNS, limit) {
		if uerr := a.unpack(); uerr != nil {
			err = fmt.Errorf("%w: unpacking %s's answer: %w", ErrNoUpstream, upstream, uerr)
			a.raw = nil
		}
	}
	var resp *dns.Msg
	var cached *dnscache.Entry
	var rcode int
	switch {
	case err != nil:
		s.stats.noUpstream.Add(1)
		resp = noUpstreamAnswer(req, err)
		rcode = resp.Rcode
	case a.raw != nil:
		binary.BigEndian.PutUint16(a.raw, 0)
		rcode = int(a.raw[3] & 0xF)
		if s.cache != nil {
			cached = s.cache.PutWire(key, a.raw, &a.lay, now, true)
		}
	default:
		resp = a.msg
		rcode = resp.Rcode
		fitOPT(resp, clientEDNS)
		attribute(resp.IsEdns0(), upstream)
		if s.cache != nil {
			cached = s.cache.Put(key, resp, now)
		}
	}
	// Observed before the write, so that whoever sees the answer can find
	// the failure already reported.
	if isFailure(rcode) && s.cfg.Observer != nil {
		s.cfg.Observer.Observe(Failure{Time: now, Client: client, Name: q.Name, Qtype: q.Qtype,
			Qclass: q.Qclass, Rcode: rcode, Upstream: upstream, EDE: edeOf(a.msg), Err: err,
			SOA: failureSOA(rcode, resp, a.raw)})
	}
	if resp == nil && s.explains(rt, q, rcode, clientEDNS) {
		// An explanation to attach: that takes the message.
		r := reply{raw: a.raw}
		if r.unpack() == nil {
			resp = r.msg
		}
	}
	annotated := false
	if resp != nil {
		resp.Id = req.Id
		resp.RecursionDesired = req.RecursionDesired
		resp.Question = req.Question // exactly as the client spelled it
		annotated = s.annotate(resp, q, limit, rt.annotator, rt.annotateWait)
	}
	// Counted and logged before the write, like the observer: whoever
	// reads the counters or the log after seeing the answer finds it there.
	s.stats.rcodes[rcode&0xF].Add(1)
	if s.reports(rt) {
		s.report(rt, &served{proto: protoOf(isUDP(w)), client: client, q: q, rcode: rcode, upstream: upstream, start: now})
	}
	release()
	wireOut := a.raw
	if cached != nil {
		wireOut = cached.Wire()
	}
	if wireOut != nil && !annotated && len(wireOut) <= limit {
		// The answer is packed already, by the upstream or the cache: send
		// those bytes with the client's ID, RD bit and spelling.
		bp := outBuf(len(wireOut))
		buf := *bp
		copy(buf, wireOut)
		dnscache.PatchHeader(buf, req.Id, req.RecursionDesired)
		dnscache.CopyCase(buf[dnscache.HeaderLen:dnscache.HeaderLen+qnameLen(buf)], q.Name)
		if _, err := w.Write(buf); err != nil {
			s.log.Debug("writing answer", "error", err.Error())
		}
		putOut(bp)
	} else if resp != nil {
		s.write(w, req, resp)
	}
}

// rawFits says whether the plain answer b, of dnscache.Layout l, can go to the
// client as it came: it fits the client's limit, and it has an OPT record
// if and only if the client sent one. It makes in place what fitOPT would:
// nxray's buffer size, and no flags but DO.
func rawFits(b []byte, l *dnscache.Layout, clientEDNS bool, limit int) bool {
	if len(b) > limit || (l.OPT() >= 0) != clientEDNS {
		return false
	}
	if o := l.OPT(); o >= 0 {
		binary.BigEndian.PutUint16(b[o+3:], maxUDPSize)
		b[o+7] &= 0x80 // DO
		b[o+8] = 0
	}
	return true
}

// explains says whether a failing answer to q will carry an explanation.
func (s *Server) explains(rt *routing, q dns.Question, rcode int, clientEDNS bool) bool {
	if rt.annotator == nil || !clientEDNS || !isFailure(rcode) {
		return false
	}
	if rt.annotateWait > 0 {
		return true // one may come while the answer waits
	}
	_, _, ok := rt.annotator.Annotation(q.Name, q.Qtype, rcode)
	return ok
}

// qnameLen is the length of the packed question name of b.
func qnameLen(b []byte) int {
	end, err := dnscache.SkipName(b, dnscache.HeaderLen)
	if err != nil {
		return 0
	}
	return end - dnscache.HeaderLen
}
