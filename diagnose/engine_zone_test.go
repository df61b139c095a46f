package diagnose

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// A zone's verdict: a flood of names under one zone is one diagnosis, and
// the zone's verdict explains only the names it may.

func TestFloodUnderOneZoneIsOneDiagnosis(t *testing.T) {
	// One server can serve a zone and its parent with no referral between
	// them: the walk then stops at the parent, and the SOA of the negative
	// answer names the zone.
	sameServer := nxFindings(".")
	sameServer.Auth[0].SOA = &SOA{Zone: "flood.test.", Serial: 1, TTL: 60, Minimum: 60}
	for _, tt := range []struct {
		name string
		fd   Findings
	}{
		{"walk ends at the zone", nxFindings("flood.test.")},
		{"negative answer's SOA names the zone", sameServer},
	} {
		t.Run(tt.name, func(t *testing.T) { testFloodGrouped(t, tt.fd) })
	}
}

func testFloodGrouped(t *testing.T, fd Findings) {
	p := &fakeProber{fd: fd, probes: 4, byName: map[string]Findings{
		"www.other.test.": {Zone: "other.test.", Auth: []Answer{dead("192.0.2.9:53")}}}}
	log := dnstest.NewLog()
	clock := dnstest.NewClock()
	clock.Set(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	const storeSize = 20
	e, err := New(Config{Prober: p, Workers: 4, QueueSize: 64, StoreSize: storeSize, ProbeRate: 200, ProbeBurst: 20,
		Logger: log.Logger(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A failure elsewhere, diagnosed before the flood.
	e.Observe(Failure{Name: "www.other.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 1)
	soa := &SOA{Zone: "flood.test.", Serial: 1, TTL: 60, Minimum: 60} // the denials' SOA, as the proxy passes it
	e.Observe(Failure{Name: "first.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, SOA: soa})
	waitDiagnosed(t, log, 1)
	name := func(i int) string { return fmt.Sprintf("r%08x.flood.test.", i*7919) }
	// Below a flood's rate, each name that does not exist is its own
	// diagnosis: another cause may hide in the same zone.
	for i := range floodNames - 1 {
		e.Observe(Failure{Name: name(i), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, SOA: soa})
	}
	waitDiagnosed(t, log, floodNames-1)
	if st := e.Stats(); st.Grouped != 0 {
		t.Fatalf("%d of %d names grouped below a flood's rate", st.Grouped, floodNames-1)
	}
	// At the flood's rate, the names are counted onto the zone's verdict,
	// but for one sampled name a second.
	const n = 10000
	for i := floodNames - 1; i < n; i++ {
		e.Observe(Failure{Name: name(i), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, SOA: soa})
	}
	// A denial a resolver made up (no SOA) is never the flood's.
	e.Observe(Failure{Name: "blocked.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError})
	waitDiagnosed(t, log, 1)
	waitDiagnosed(t, log, 1) // the sample
	st := e.Stats()
	if want := uint64(n - floodNames); st.Grouped != want || p.calls.Load() != floodNames+3 {
		t.Errorf("a flood of %d names: %d diagnoses, %d grouped; want %d and %d", n, p.calls.Load(), st.Grouped, floodNames+3, want)
	}
	// The flood is one verdict, counted, with a sample of its names; the
	// verdict from before it is still there, though the flood's names
	// were hundreds of times the store's size.
	var zv Verdict
	for _, v := range e.Verdicts() {
		if v.Grouped > 0 {
			zv = v
		}
	}
	if _, ok := e.Lookup("www.other.test.", dns.TypeA); !ok {
		t.Error("the verdict from before the flood was pushed out")
	}
	if zv.Name != "first.flood.test." || zv.Cause != NXDomainConfirmed || zv.Grouped != n-floodNames ||
		!slices.Equal(zv.GroupedNames, []string{name(floodNames), name(floodNames + 1), name(floodNames + 2), name(floodNames + 3), name(floodNames + 4)}) {
		t.Errorf("the flood's verdict: name %s, cause %s, grouped %d, names %v; want first.flood.test., %s, %d, the first 5 grouped",
			zv.Name, zv.Cause, zv.Grouped, zv.GroupedNames, NXDomainConfirmed, n-floodNames)
	}
	// A flood name's answer still explains itself, by its zone's verdict.
	code, text, ok := e.Annotation(name(n-1), dns.TypeA, dns.RcodeNameError)
	if !ok || code != dns.ExtendedErrorCodeOther || !strings.Contains(text, "nxray: nxdomain_confirmed: Not probed on its own") {
		t.Errorf("annotation for a flood name: %d %q %v", code, text, ok)
	}
	if _, _, ok := e.Annotation(name(n-1), dns.TypeA, dns.RcodeServerFailure); ok {
		t.Error("a SERVFAIL in the zone annotated with its NXDOMAIN verdict")
	}
	// A name asked again during the flood is no throwaway name: it is
	// diagnosed on its own, and so is another rcode in the same zone.
	calls := p.calls.Load()
	e.Observe(Failure{Name: name(n - 2), Qtype: dns.TypeA, Rcode: dns.RcodeNameError, SOA: soa})
	e.Observe(Failure{Name: "x.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 2)
	if p.calls.Load() != calls+2 {
		t.Errorf("prober ran %d more times, want 2", p.calls.Load()-calls)
	}
	// When the flood has passed, names are diagnosed one by one again.
	clock.Advance(2 * floodWindow)
	e.Observe(Failure{Name: "later.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, SOA: soa})
	waitDiagnosed(t, log, 1)
	if p.calls.Load() != calls+3 {
		t.Errorf("after the flood: prober ran %d more times, want 3", p.calls.Load()-calls)
	}
}

// An upstream that did not answer says nothing about the zone of the name
// asked: its verdict explains no other name's SERVFAIL.
func TestUnreachableUpstreamIsNotAZoneVerdict(t *testing.T) {
	p := &fakeProber{fd: Findings{Zone: "example.test."}} // the health question failed too
	log := dnstest.NewLog()
	e, err := New(Config{Prober: p, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Observe(Failure{Name: "a.example.test.", Qtype: dns.TypeA, Rcode: NoAnswer, Upstream: "192.0.2.1:53"})
	waitDiagnosed(t, log, 1)
	if v, ok := e.Lookup("a.example.test.", dns.TypeA); !ok || v.Cause != UpstreamUnreachable {
		t.Fatalf("verdict %+v", v)
	}
	if code, text, ok := e.Annotation("b.example.test.", dns.TypeAAAA, dns.RcodeServerFailure); ok {
		t.Errorf("an upstream's SERVFAIL for another name explained by it: %d %q", code, text)
	}
}

// holdingProber holds the diagnosis of each name in held until its channel
// is closed.
type holdingProber struct {
	fd   Findings
	held map[string]chan struct{}
}

func (p *holdingProber) Probe(ctx context.Context, f Failure, take func() bool) (Findings, []Evidence) {
	if ch, ok := p.held[f.Name]; ok {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	return p.fd, nil
}

// A name queued for its own diagnosis before its zone's verdict came is not
// explained as "not probed on its own" by that verdict meanwhile.
func TestPendingNameNotExplainedByItsZone(t *testing.T) {
	second := make(chan struct{})
	p := &holdingProber{fd: Findings{Zone: "flood.test.", Auth: []Answer{refused("192.0.2.9:53")}}, held: map[string]chan struct{}{"second.flood.test.": second}}
	log := dnstest.NewLog()
	e, err := New(Config{Prober: p, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Observe(Failure{Name: "second.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure}) // held
	e.Observe(Failure{Name: "first.flood.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 1) // first's: the zone's verdict
	if _, _, ok := e.Annotation("other.flood.test.", dns.TypeA, dns.RcodeServerFailure); !ok {
		t.Fatal("no zone verdict: the test does not exercise it")
	}
	if _, text, ok := e.Annotation("second.flood.test.", dns.TypeA, dns.RcodeServerFailure); ok {
		t.Errorf("a name being probed explained by its zone meanwhile: %q", text)
	}
	close(second)
	waitDiagnosed(t, log, 1)
	if _, text, ok := e.Annotation("second.flood.test.", dns.TypeA, dns.RcodeServerFailure); !ok || strings.Contains(text, "Not probed") {
		t.Errorf("after its own diagnosis: %q %v", text, ok)
	}
}

// A verdict that the root's or a TLD's servers did not answer is about
// nxray's own network far more often than about them: it explains no other
// name's SERVFAIL, which each get their own diagnosis. A second-level zone
// whose servers are dead still groups.
func TestSilentRootOrTLDIsNotAZoneVerdict(t *testing.T) {
	for _, tt := range []struct {
		zone  string
		group bool
	}{{".", false}, {"test.", false}, {"example.test.", true}} {
		t.Run(tt.zone, func(t *testing.T) {
			p := &fakeProber{fd: Findings{Zone: tt.zone, Auth: []Answer{dead("192.0.2.9:53")}}}
			log := dnstest.NewLog()
			e, err := New(Config{Prober: p, Logger: log.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			e.Observe(Failure{Name: "a.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
			waitDiagnosed(t, log, 1)
			if v, ok := e.Lookup("a.example.test.", dns.TypeA); !ok || v.Cause != AuthoritativeUnreachable {
				t.Fatalf("verdict %+v", v)
			}
			_, _, grouped := e.Annotation("b.example.test.", dns.TypeA, dns.RcodeServerFailure)
			if grouped != tt.group {
				t.Errorf("another name's SERVFAIL explained by the verdict about %s: %v, want %v", tt.zone, grouped, tt.group)
			}
		})
	}
}
