package proxy

import (
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
}

// Observer receives failures. Observe is called on the query path from many
// goroutines at once; it must return at once and never block. The Failure is
// a copy the observer may keep.
type Observer interface {
	Observe(Failure)
}
