package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/upstream"
)

// ErrBadName is a name Flush cannot read as a domain name.
var ErrBadName = errors.New("not a domain name")

// Flush empties the cache of name and every name under it, every type,
// positive and negative answers alike, or all of it when name is "", and
// returns how many answers went. Without a cache it flushes nothing. The
// next query for a flushed name goes upstream, so that after a fix no one
// waits out a negative TTL at nxray. A query already waiting on an upstream
// may still cache the answer it gets.
func (s *Server) Flush(name string) (int, error) {
	if name != "" {
		if _, ok := dns.IsDomainName(name); !ok || strings.ContainsAny(name, " \t\r\n") {
			return 0, fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	if s.cache == nil {
		return 0, nil
	}
	n := 0
	if name == "" {
		n = s.cache.Flush()
	} else {
		n = s.cache.FlushName(name)
	}
	s.log.Info("cache flushed", "name", name, "entries", n)
	return n, nil
}

// CheckFailure is an upstream that did not answer CheckUpstreams (package
// upstream).
type CheckFailure = upstream.CheckFailure

// CheckUpstreams asks every upstream, the default pool's and each forward
// zone's, one question at once (". NS", or the zone's SOA) and returns those
// that gave no answer within the timeout or before ctx ended, default pool
// first, then the zones longest first. Any answer counts. It waits for
// every question it sends.
func (s *Server) CheckUpstreams(ctx context.Context) []CheckFailure {
	rt := s.route.Load()
	pools := []*upstream.Pool{rt.pool}
	for _, z := range rt.zones {
		pools = append(pools, z.pool)
	}
	out := make([][]CheckFailure, len(pools))
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.Check(ctx)
		}()
	}
	wg.Wait()
	var all []CheckFailure
	for _, f := range out {
		all = append(all, f...)
	}
	return all
}
