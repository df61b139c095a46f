package diagnose

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Explain diagnoses one name whether or not it fails, as nxray explain
// does: it asks the upstream up (RD=1, EDNS0, within timeout; a tls:// or
// https:// one through p's Exchanger when p is a NetProber) and takes its
// rcode, its negative answer's SOA and its EDE as the failure's, then
// probes within ctx and budget probes and classifies with Explain set.
func Explain(ctx context.Context, p Prober, up string, timeout time.Duration, name string, qt uint16, budget int) Verdict {
	start := time.Now()
	f := Failure{Time: start, Name: name, Qtype: qt, Rcode: NoAnswer, Upstream: up}
	q := new(dns.Msg).SetQuestion(name, qt)
	q.SetEdns0(1232, false)
	if m, err := askUpstream(ctx, p, up, timeout, q); err == nil {
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

// askUpstream asks up q within timeout: over UDP (TCP when truncated), or
// through p's Exchanger for an encrypted upstream.
func askUpstream(ctx context.Context, p Prober, up string, timeout time.Duration, q *dns.Msg) (*dns.Msg, error) {
	if !encrypted(up) {
		m, _, err := (&dns.Client{Timeout: timeout, UDPSize: 1232}).ExchangeContext(ctx, q, up)
		if err == nil && m.Truncated {
			m, _, err = (&dns.Client{Net: "tcp", Timeout: timeout}).ExchangeContext(ctx, q, up)
		}
		return m, err
	}
	np, ok := p.(*NetProber)
	if !ok || np.cfg.Exchanger == nil {
		return nil, errNoExchanger{up}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return np.cfg.Exchanger.Exchange(ctx, up, q)
}
