package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/miekg/dns"
)

// The end of every query's path: one function counts an answer, one
// reports a failure, and two write.

// answered counts an answer of rcode about to go to q's client, tells the
// Recorder and the QueryLog, and logs it when queries are logged. upstream is empty for
// the cache and nxray's own answers. It is called before the write, so
// that whoever reads the counters or the log after seeing the answer finds
// it there.
func (s *Server) answered(q *query, rcode int, cached bool, upstream string) {
	s.stats.rcodes[rcode&0xF].Add(1)
	if s.cfg.Recorder == nil && !q.rt.logQueries && s.cfg.QueryLog == nil {
		return // a hit pays for nothing more
	}
	d := s.elapsed(q.start)
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.Answered(q.proto, rcode, cached, q.start, d)
	}
	if s.cfg.QueryLog != nil {
		s.logQuery(q, rcode, cached, upstream, d)
	}
	if q.rt.logQueries {
		qs, qtype := q.question(), ""
		if qs != (dns.Question{}) {
			qtype = dns.Type(qs.Qtype).String() // TYPE65280 for a type without a name
		}
		// rcode is what the client got: SERVFAIL when no upstream answered,
		// REFUSED for a client outside the ACL. duration_ms has
		// microseconds, as the status page's latencies do.
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "query",
			slog.String("client", q.client.String()), slog.String("name", qs.Name),
			slog.String("qtype", qtype), slog.String("rcode", rcodeName(rcode)),
			slog.String("upstream", upstream), slog.Bool("cached", cached),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000))
	}
}

// observe reports f, a failure q's client is about to get, to the
// Observer, with what q tells of it: when, who, and the question as the
// client spelled it.
func (s *Server) observe(q *query, f Failure) {
	if s.cfg.Observer == nil {
		return
	}
	qs := q.question()
	f.Time, f.Client, f.Name, f.Qtype, f.Qclass = q.start, q.client, qs.Name, qs.Qtype, qs.Qclass
	s.cfg.Observer.Observe(f)
}

// own answers q with r's rcode, and its EDE if the client speaks EDNS: an
// answer of nxray's own, counted and logged like any other.
func (s *Server) own(q *query, r refusal) {
	m := rcodeOnly(q.msg(), r.rcode)
	if r.ede != nil && len(m.Extra) == 1 {
		if o, ok := m.Extra[0].(*dns.OPT); ok {
			o.Option = append(o.Option, r.ede)
		}
	}
	s.answered(q, r.rcode, false, "")
	s.sendMsg(q, m)
}

// reject answers a query read could not take as miekg/dns's server does:
// the header with QR set, AA and Z cleared and the rcode (NOTIMP keeps the
// opcode), the question if it was read, no records.
func (s *Server) reject(q *query, rcode int) {
	req := q.req
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if rcode == dns.RcodeNotImplemented {
		req.Opcode, req.Rcode = opcode, rcode
	}
	req.Answer, req.Ns, req.Extra = nil, nil, nil
	s.answered(q, rcode, false, "")
	s.sendMsg(q, req)
}

// rcodeOnly is the answer to req with rcode and nothing else.
func rcodeOnly(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	if req.IsEdns0() != nil {
		m.Extra = append(m.Extra, newOPT(false))
	}
	return m
}

// send writes the packed answer b to q's client.
func (s *Server) send(q *query, b []byte) {
	if err := q.send(b); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
}

// sendMsg writes m to q's client, truncated to what a UDP client takes.
func (s *Server) sendMsg(q *query, m *dns.Msg) {
	if err := q.writeMsg(m); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
}

// elapsed is the time since start, a reading of Config.Now. time.Now's
// readings carry the monotonic clock, and then elapsed reads only that
// (time.Since), half the cost of time.Now on the hot path; a test's clock
// gives readings without it, and is asked again.
func (s *Server) elapsed(start time.Time) time.Duration {
	if start != start.Round(0) { // Round(0) strips the monotonic reading
		return time.Since(start)
	}
	return s.cfg.Now().Sub(start)
}
