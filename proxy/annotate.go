package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Annotator knows why names fail. The proxy asks it when a client that
// sent EDNS0 gets NXDOMAIN, SERVFAIL or REFUSED, and attaches the answer as
// an Extended DNS Error (RFC 8914). Safe for concurrent use.
type Annotator interface {
	// Annotation returns the known explanation for a failing name, type and
	// rcode, at once, or ok false.
	Annotation(name string, qtype uint16, rcode int) (code uint16, text string, ok bool)
	// Wait is Annotation that waits, until ctx ends, for an explanation
	// under way.
	Wait(ctx context.Context, name string, qtype uint16, rcode int) (code uint16, text string, ok bool)
}

// maxAnnotation bounds nxray's EXTRA-TEXT even over TCP.
const maxAnnotation = 512

// annotate adds nxray's explanation to a failing answer for q's client,
// if it sent EDNS0, after any EDE of the upstream's, cut so that the answer
// still fits the client's buffer. wait > 0 holds the answer up to wait for
// an explanation under way. It says whether it added one.
func (s *Server) annotate(resp *dns.Msg, q *query, wait time.Duration) bool {
	opt, ann := resp.IsEdns0(), q.rt.annotator
	if ann == nil || opt == nil || !isFailure(resp.Rcode) {
		return false
	}
	// A plain query's key name points into the reader's buffer: the
	// annotator gets a string of its own.
	name, qtype := strings.Clone(q.key.Name), q.key.Qtype
	var code uint16
	var text string
	var ok bool
	if wait > 0 {
		ctx, cancel := context.WithTimeout(s.ctx, wait)
		code, text, ok = ann.Wait(ctx, name, qtype, resp.Rcode)
		cancel()
	} else {
		code, text, ok = ann.Annotation(name, qtype, resp.Rcode)
	}
	if !ok {
		return false
	}
	resp.Compress = true
	room := q.limit - resp.Len() - 6 // option code, length, INFO-CODE
	if room < 0 {
		return false // not even the code fits: the answer matters more
	}
	opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: clip(text, min(room, maxAnnotation))})
	return true
}

// attribute prefixes the EXTRA-TEXT of an upstream's EDE options with the
// upstream's address, so the client does not take them for nxray's own
// (RFC 8914 section 3).
func attribute(opt *dns.OPT, upstream string) {
	if opt == nil {
		return
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			e.ExtraText = clip("upstream "+upstream+": "+e.ExtraText, maxEDEText)
		}
	}
}
