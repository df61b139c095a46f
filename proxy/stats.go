package proxy

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// counters are the server's running totals; all atomic.
type counters struct {
	queries     atomic.Uint64
	cacheHits   atomic.Uint64
	cacheMisses atomic.Uint64
	aclRefused  atomic.Uint64
	overloaded  atomic.Uint64
	tcpRejected atomic.Uint64
	noUpstream  atomic.Uint64
	mismatched  atomic.Uint64
	rcodes      [16]atomic.Uint64
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Queries     uint64
	CacheHits   uint64
	CacheMisses uint64
	// ACLRefused counts clients outside the ACL, answered REFUSED.
	ACLRefused uint64
	// Overloaded counts queries answered SERVFAIL because MaxInflight
	// queries were already waiting on upstreams.
	Overloaded uint64
	// TCPRejected counts TCP connections closed for being over a cap:
	// tcp.max_connections, or tcp.max_per_client for their client address.
	TCPRejected uint64
	// NoUpstream counts queries no upstream answered.
	NoUpstream uint64
	// Mismatched counts upstream answers dropped for a wrong ID or question.
	Mismatched uint64
	// CacheEntries is the number of answers held.
	CacheEntries int
	// CacheSkipped counts negative answers not cached because they were
	// asked once while caching them would push out a live negative answer
	// (a flood of names that do not exist).
	CacheSkipped uint64
	// Rcodes counts answers sent, by rcode name.
	Rcodes map[string]uint64
}

// Stats returns the counters as they are now.
func (s *Server) Stats() Stats {
	st := Stats{
		Queries:     s.stats.queries.Load(),
		CacheHits:   s.stats.cacheHits.Load(),
		CacheMisses: s.stats.cacheMisses.Load(),
		ACLRefused:  s.stats.aclRefused.Load(),
		Overloaded:  s.stats.overloaded.Load(),
		TCPRejected: s.stats.tcpRejected.Load(),
		NoUpstream:  s.stats.noUpstream.Load(),
		Mismatched:  s.stats.mismatched.Load(),
		Rcodes:      map[string]uint64{},
	}
	if s.cache != nil {
		st.CacheEntries = s.cache.Len()
		st.CacheSkipped = s.cache.Skipped()
	}
	for rc := range s.stats.rcodes {
		if n := s.stats.rcodes[rc].Load(); n > 0 {
			st.Rcodes[dns.RcodeToString[rc]] = n
		}
	}
	return st
}
