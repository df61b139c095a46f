package diagnose

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Explain diagnoses one name whether or not it fails, as nxray explain
// does: it asks the upstream up (RD=1, EDNS0, within timeout) and takes its
// rcode, its negative answer's SOA and its EDE as the failure's, then
// probes within ctx and budget probes and classifies with Explain set.
func Explain(ctx context.Context, p Prober, up string, timeout time.Duration, name string, qt uint16, budget int) Verdict {
	start := time.Now()
	f := Failure{Time: start, Name: name, Qtype: qt, Rcode: NoAnswer, Upstream: up}
	q := new(dns.Msg).SetQuestion(name, qt)
	q.SetEdns0(1232, false)
	if m, _, err := (&dns.Client{Timeout: timeout, UDPSize: 1232}).ExchangeContext(ctx, q, up); err == nil {
		f.Rcode, f.EDE = m.Rcode, ednsErrors(m)
		if m.Rcode == dns.RcodeNameError {
			f.SOA = soaOf(m)
		}
	}
	var used atomic.Int64
	fd, ev := p.Probe(ctx, f, func() bool { return used.Add(1) <= int64(budget) })
	fd.Name, fd.Qtype, fd.Rcode, fd.Upstream, fd.UpstreamEDE, fd.Explain = name, qt, f.Rcode, up, codesOf(f.EDE), true
	if f.SOA != nil {
		fd.UpstreamSOA = f.SOA
	}
	r := Classify(fd)
	return Verdict{Name: name, Qtype: qtype(qt), Rcode: rcode(f.Rcode), Cause: r.Cause, Summary: r.Summary,
		Advice: r.Advice, EDE: ownEDE(r.EDE), UpstreamEDE: upstreamEDE(f.EDE), Upstream: up, FirstSeen: start,
		LastSeen: time.Now(), Count: 1, DurationMS: time.Since(start).Milliseconds(), Evidence: ev, Zone: fd.Zone}
}
