package proxy

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
	"github.com/nxray/nxray/internal/upstream"
)

// The request path, top to bottom. Every query takes it, whichever listener
// read it: read (query.go) → admit → fromCache → forward → finish. A UDP
// reader and a TCP connection's reader run the steps up to the cache
// themselves, so that a hit is answered without a goroutine; a query that
// goes upstream goes on on a goroutine of its own (a UDP worker, or the TCP
// query's).

// serve takes q, read already, through the whole path on the caller's
// goroutine.
func (s *Server) serve(q *query) {
	if s.admit(q) && !s.fromCache(q) {
		s.forward(q)
	}
}

// admit counts q and answers it itself if it is not a query to forward:
// a client outside the ACL, a query read could not take, another opcode, a
// question nobody can answer, a zone transfer, an EDNS version it does not
// speak. It says whether q goes on. A plain query passes by construction
// (dnscache.ParseQuery), with one look at the ACL.
func (s *Server) admit(q *query) bool {
	s.stats.queries.Add(1)
	if !allowed(q.rt.acl, q.client) {
		s.stats.aclRefused.Add(1)
		s.own(q, refusal{rcode: dns.RcodeRefused})
		return false
	}
	if q.plain {
		return true
	}
	req := q.req
	switch {
	case q.bad != 0:
		s.reject(q, q.bad)
	case req.Opcode != dns.OpcodeQuery: // NOTIFY, UPDATE, DSO: not a forwarder's
		s.own(q, refusal{rcode: dns.RcodeNotImplemented})
	// miekg/dns takes a question cut short after its name as type and
	// class 0; neither is a question anyone can answer.
	case len(req.Question) != 1 || req.Question[0].Qtype == 0 || req.Question[0].Qclass == 0:
		s.own(q, refusal{rcode: dns.RcodeFormatError})
	default:
		if r := notForwarded(req); r.rcode != dns.RcodeSuccess {
			s.own(q, r)
			return false
		}
		opt := req.IsEdns0()
		if opt != nil && opt.Version() != 0 {
			s.own(q, refusal{rcode: dns.RcodeBadVers}) // RFC 6891 section 6.1.3
			return false
		}
		q.key = dnscache.KeyOf(req, opt)
		return true
	}
	return false
}

// fromCache answers q from the cache if it can, and says whether it did.
func (s *Server) fromCache(q *query) bool {
	if s.cache == nil {
		return false
	}
	e, ok := s.cache.Get(q.key, q.start)
	if !ok {
		s.stats.cacheMisses.Add(1)
		return false
	}
	s.stats.cacheHits.Add(1)
	bp := outBuf(len(e.Wire()))
	defer putOut(bp)
	buf := *bp
	copy(buf, e.Wire())
	e.Stamp(buf, q.id, q.rd, q.start)
	q.copyName(buf[dnscache.HeaderLen : dnscache.HeaderLen+e.QnameLen()])
	rcode := e.Rcode()
	if isFailure(rcode) {
		// Its SOA from the rendered answer: with the TTL counted down.
		s.observe(q, Failure{Rcode: rcode, Cached: true, SOA: e.FailureSOA(buf)})
	}
	if len(buf) <= q.limit && (!isFailure(rcode) || q.rt.annotator == nil || !q.edns) {
		s.answered(q, rcode, true, "")
		s.send(q, buf)
		return true
	}
	// Too big for this client's buffer, or a failure to explain: unpacked,
	// off the hot path of successful hits.
	m := new(dns.Msg)
	if err := m.Unpack(buf); err != nil {
		s.log.Warn("cached answer does not unpack", "name", strings.Clone(q.key.Name), "error", err.Error())
		s.own(q, refusal{rcode: dns.RcodeServerFailure})
		return true
	}
	s.annotate(m, q, 0)
	s.answered(q, rcode, true, "")
	s.sendMsg(q, m)
	return true
}

// copyName writes the client's spelling of the question name over wire,
// the packed name of an answer to the same name.
func (q *query) copyName(wire []byte) {
	if q.plain && len(wire) == len(q.wq.Qname) {
		copy(wire, q.wq.Qname)
		return
	}
	dnscache.CopyCase(wire, q.question().Name)
}

// forward sends q upstream and finishes it with what comes back. It holds
// one of MaxInflight slots until the answer is made; with none free, the
// client gets SERVFAIL at once. A UDP query does not wait: the transport
// finishes it when its answer comes (upstream.Pool.Go), and the reader
// that read it reads on. A TCP query (or ServeDNS's) waits on its own
// goroutine.
func (s *Server) forward(q *query) {
	select {
	case s.inflight <- struct{}{}:
	default:
		s.stats.overloaded.Add(1)
		s.own(q, refusal{rcode: dns.RcodeServerFailure})
		return
	}
	wire, err := q.upstreamWire(nil)
	if err != nil {
		<-s.inflight
		s.own(q, refusal{rcode: dns.RcodeFormatError})
		return
	}
	// No context per query: the deadline goes down to the transports, and
	// shutdown ends s.ctx (Server.abort), which every transport watches.
	deadline := time.Now().Add(s.cfg.Deadline)
	if q.udp == nil {
		a, err := q.rt.poolFor(q.key.Name).Exchange(s.ctx, deadline, wire)
		s.finish(q, a, err)
		return
	}
	u := q.udp
	u.pending.Add(1)
	q.rt.poolFor(q.key.Name).Go(s.ctx, deadline, wire, func(a upstream.Answer, err error) {
		if q.rt.annotateWait > 0 && q.edns && (err != nil || isFailure(a.Rcode())) {
			// Its explanation may keep it waiting: not on the transport's
			// goroutine, which other answers are waiting on.
			go func() {
				defer u.pending.Done()
				s.finish(q, a, err)
			}()
			return
		}
		defer u.pending.Done()
		s.finish(q, a, err)
	})
}

// finish caches the answer a (or turns err into SERVFAIL), reports a
// failure, gives back the query's in-flight slot (forward's) and writes the
// answer.
func (s *Server) finish(q *query, a upstream.Answer, err error) {
	resp, cached, rcode, err := s.store(q, &a, err)
	// Observed before the write, so that whoever sees the answer can find
	// the failure already reported.
	if isFailure(rcode) {
		s.observe(q, Failure{Rcode: rcode, Upstream: a.From, EDE: upstream.EDE(a.Msg), Err: err,
			SOA: failureSOA(rcode, resp, a.Raw)})
	}
	if resp == nil && s.explains(q, rcode) {
		// An explanation to attach: that takes the message.
		r := upstream.Reply{Raw: a.Raw}
		if r.Unpack() == nil {
			resp = r.Msg
		}
	}
	annotated := false
	if resp != nil {
		resp.Id, resp.RecursionDesired = q.id, q.rd
		resp.Question = []dns.Question{q.question()} // exactly as the client spelled it
		annotated = s.annotate(resp, q, q.rt.annotateWait)
	}
	s.answered(q, rcode, false, a.From)
	// The slot is for the upstreams' time: it is given back before the
	// write, which a TCP client that does not read can hold up.
	<-s.inflight
	wire := a.Raw
	if cached != nil {
		wire = cached.Wire()
	}
	if wire == nil || annotated || len(wire) > q.limit {
		s.sendMsg(q, resp)
		return
	}
	s.sendWire(q, wire)
}

// sendWire sends the packed answer wire, from the upstream or the cache,
// with q's ID, RD bit and spelling.
func (s *Server) sendWire(q *query, wire []byte) {
	bp := outBuf(len(wire))
	defer putOut(bp)
	buf := *bp
	copy(buf, wire)
	dnscache.PatchHeader(buf, q.id, q.rd)
	q.copyName(buf[dnscache.HeaderLen : dnscache.HeaderLen+qnameLen(buf)])
	s.send(q, buf)
}

// store makes the answer q's client gets from a, or from err, and caches
// it: a plain answer (dnscache.PlainAnswer) is cached and sent as it came,
// after the changes fitOPT would make, and resp is nil; the rest are
// unpacked into resp. cached is the cache's entry, if it took one.
func (s *Server) store(q *query, a *upstream.Answer, err error) (resp *dns.Msg, cached *dnscache.Entry, rcode int, _ error) {
	if err == nil && a.Raw != nil && !rawFits(a.Raw, &a.Layout, q.edns, q.limit) {
		if uerr := a.Unpack(); uerr != nil {
			err = fmt.Errorf("%w: unpacking %s's answer: %w", ErrNoUpstream, a.From, uerr)
			a.Raw = nil
		}
	}
	switch {
	case err != nil:
		s.stats.noUpstream.Add(1)
		resp = noUpstreamAnswer(q.msg(), err)
		return resp, nil, resp.Rcode, err
	case a.Raw != nil:
		binary.BigEndian.PutUint16(a.Raw, 0)
		rcode = int(a.Raw[3] & 0xF)
		if s.cache != nil {
			cached = s.cache.PutWire(q.key, a.Raw, &a.Layout, q.start, true)
		}
		return nil, cached, rcode, nil
	}
	resp = a.Msg
	fitOPT(resp, q.edns)
	attribute(resp.IsEdns0(), a.From)
	if s.cache != nil {
		cached = s.cache.Put(q.key, resp, q.start)
	}
	return resp, cached, resp.Rcode, nil
}

// rawFits says whether the plain answer b, of layout l, can go to the
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
func (s *Server) explains(q *query, rcode int) bool {
	ann := q.rt.annotator
	if ann == nil || !q.edns || !isFailure(rcode) {
		return false
	}
	if q.rt.annotateWait > 0 {
		return true // one may come while the answer waits
	}
	_, _, ok := ann.Annotation(strings.Clone(q.key.Name), q.key.Qtype, rcode)
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
