package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Failure is one answer a client received with rcode NXDOMAIN, SERVFAIL or
// REFUSED, or a query that no upstream answered.
type Failure struct {
	Time   time.Time
	Client netip.Addr
	Name   string // as the client sent it
	Qtype  uint16
	Qclass uint16
	Rcode  int
	// Upstream is the upstream whose answer the client got; empty when no
	// upstream answered (Err is then set) or the answer came from the cache.
	Upstream string
	Cached   bool
	// EDE holds the Extended DNS Errors of the upstream's answer.
	EDE []dns.EDNS0_EDE
	// Err says why no upstream answered; nil when one did.
	Err error
	// SOA is, for an NXDOMAIN, the first SOA record in the authority
	// section of the answer the client got, with the TTL it got: the
	// upstream's, counted down when the answer came from the cache. The
	// letter case of its names is not significant: where they were
	// compressed it may be a client's spelling of the question. nil for
	// other rcodes and for an NXDOMAIN without one. It is the observer's
	// own copy.
	SOA *dns.SOA
}

// failureSOA is the SOA a failure with rcode reports (Failure.SOA), read
// from the answer the client gets: m, or if m is nil the packed answer b.
// It is called for failures only: it allocates. A cached answer's is
// entry.failureSOA.
func failureSOA(rcode int, m *dns.Msg, b []byte) *dns.SOA {
	if rcode != dns.RcodeNameError {
		return nil
	}
	if m == nil {
		s, _ := dnscache.WireSOA(b)
		return s
	}
	for _, rr := range m.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			c := *s // shares only strings, which never change
			return &c
		}
	}
	return nil
}

// Observer receives failures. Observe is called on the query path from many
// goroutines at once; it must return at once and never block. The Failure is
// a copy the observer may keep.
type Observer interface {
	Observe(Failure)
}

func isFailure(rcode int) bool {
	return rcode == dns.RcodeNameError || rcode == dns.RcodeServerFailure || rcode == dns.RcodeRefused
}
