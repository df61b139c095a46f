package upstream

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// This file is the start-up check: one question to each upstream, so that
// a resolver that is not there is named in the log at once, not at the
// first query that times out. Blocky and AdGuard Home do the same.

// CheckFailure is an upstream that did not answer Check.
type CheckFailure struct {
	Upstream string
	Zone     string // the forward zone the pool serves; "" for every other name
	Err      error
}

// Check asks every upstream one question at once, the zone's SOA for a
// forward zone's pool and ". NS" for the other, and returns those that did
// not answer within the pool's timeout (or before ctx ends), in configured
// order. Any answer counts, whatever its rcode. It neither marks an
// upstream down nor counts the tries: it only reports. It waits for every
// try it starts.
func (p *Pool) Check(ctx context.Context) []CheckFailure {
	qname, qtype := ".", dns.TypeNS
	if p.cfg.Zone != "" {
		qname, qtype = p.cfg.Zone, dns.TypeSOA
	}
	errs := make([]error, len(p.ms)) // one slot per upstream: no lock
	var wg sync.WaitGroup
	for i, m := range p.ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.check(ctx, m, qname, qtype)
		}()
	}
	wg.Wait()
	var out []CheckFailure
	for i, err := range errs {
		if err != nil {
			out = append(out, CheckFailure{Upstream: p.ms[i].String(), Zone: p.cfg.Zone, Err: err})
		}
	}
	return out
}

// check asks m for qname and qtype, with recursion desired as a client
// would, and says why it did not answer.
func (p *Pool) check(ctx context.Context, m *member, qname string, qtype uint16) error {
	q := new(dns.Msg).SetQuestion(qname, qtype)
	wire, err := q.Pack()
	if err != nil {
		return err
	}
	start := time.Now()
	deadline := start.Add(p.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if _, err = m.exchange(ctx, wire, deadline); err == nil {
		return nil
	}
	if isTimeout(err) && ctx.Err() == nil {
		return fmt.Errorf("no answer to %s %s within %s", qname, dns.TypeToString[qtype], deadline.Sub(start).Round(time.Millisecond))
	}
	return fmt.Errorf("asking %s %s: %w", qname, dns.TypeToString[qtype], err)
}
