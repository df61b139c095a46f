package proxy

import (
	"sync"
	"time"

	"github.com/miekg/dns"
)

// write sends resp, truncated to what a UDP client can take.
func (s *Server) write(w dns.ResponseWriter, req, resp *dns.Msg) {
	resp.Compress = true
	if isUDP(w) {
		resp.Truncate(udpLimit(req, s.cfg.MaxUDPSize))
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing answer", "error", err.Error())
	}
}

// reply answers req, read at start, with rcode and nothing else.
func (s *Server) reply(w dns.ResponseWriter, req *dns.Msg, rcode int, start time.Time) {
	s.refuse(w, req, refusal{rcode: rcode}, start)
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

// outPool holds buffers for answers on their way to a client. They are
// small: most answers fit, and a TCP write that waits on a slow client
// holds its query's buffer all the while.
var outPool = sync.Pool{New: func() any { b := make([]byte, outSize); return &b }}

const outSize = 4096

// outBuf returns a buffer of length n, from outPool when n fits; putOut
// gives it back.
func outBuf(n int) *[]byte {
	if n > outSize {
		b := make([]byte, n)
		return &b
	}
	bp := outPool.Get().(*[]byte)
	*bp = (*bp)[:n]
	return bp
}

// writeMsg packs m into a buffer from outPool (PackBuffer makes a bigger
// one if it must) and writes it to w.
func writeMsg(w dns.ResponseWriter, m *dns.Msg) error {
	bp := outBuf(outSize)
	defer putOut(bp)
	b, err := m.PackBuffer(*bp)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func putOut(bp *[]byte) {
	if cap(*bp) == outSize {
		*bp = (*bp)[:outSize]
		outPool.Put(bp)
	}
}
