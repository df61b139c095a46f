package proxy

import (
	"github.com/miekg/dns"
)

// write sends resp, truncated to what a UDP client can take.
func (s *Server) write(w dns.ResponseWriter, req, resp *dns.Msg) {
	resp.Compress = true
	if isUDP(w) {
		resp.Truncate(udpLimit(req))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
}

// reply answers with rcode and nothing else.
func (s *Server) reply(w dns.ResponseWriter, req *dns.Msg, rcode int) {
	s.stats.rcodes[rcode&0xF].Add(1)
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.Answered(protoOf(isUDP(w)), rcode, false)
	}
	s.write(w, req, rcodeOnly(req, rcode))
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
