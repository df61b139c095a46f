package diagnose

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeProber returns fixed findings, counting calls, optionally sending
// probes through take and holding until released.
type fakeProber struct {
	calls  atomic.Int32
	probes int // how many times to call take
	hold   chan struct{}
	fd     Findings
	byName map[string]Findings // findings for these names instead of fd
}

func (p *fakeProber) Probe(ctx context.Context, f Failure, take func() bool) (Findings, []Evidence) {
	p.calls.Add(1)
	if p.hold != nil {
		select {
		case <-p.hold:
		case <-ctx.Done():
		}
	}
	var ev []Evidence
	for range p.probes {
		if !take() {
			break
		}
		ev = append(ev, Evidence{Server: "192.0.2.1:53", Role: "authoritative", Query: f.Name + " A +norec", Rcode: "NXDOMAIN"})
	}
	if fd, ok := p.byName[f.Name]; ok {
		return fd, ev
	}
	return p.fd, ev
}

func nxFindings(zone string) Findings {
	return Findings{Zone: zone, Auth: []Answer{good("192.0.2.1:53", dns.RcodeNameError)}}
}

// waitDiagnosed waits for n more "diagnosis" log lines.
func waitDiagnosed(t *testing.T, log *dnstest.Log, n int) {
	t.Helper()
	for range n {
		log.Wait(t, "diagnosis")
	}
}

func TestVerdictStoredLoggedAndDeduplicated(t *testing.T) {
	clk := dnstest.NewClock()
	log := dnstest.NewLog()
	p := &fakeProber{fd: nxFindings("example.test."), probes: 3}
	e, err := New(Config{Prober: p, Now: clk.Now, Logger: log.Logger(), StoreTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := Failure{Name: "gone.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Upstream: "192.0.2.53:53"}
	e.Observe(f)
	waitDiagnosed(t, log, 1)
	e.Observe(f)
	e.Observe(f)
	v, ok := e.Lookup("GONE.example.test", dns.TypeA)
	if !ok {
		t.Fatal("no verdict stored for the name")
	}
	if v.Cause != NXDomainConfirmed || v.Count != 3 || v.Rcode != "NXDOMAIN" || len(v.Evidence) != 3 || len(v.EDE) != 1 || v.EDE[0] != 0 {
		t.Errorf("verdict = %+v", v)
	}
	if p.calls.Load() != 1 {
		t.Errorf("prober ran %d times for one name, want 1", p.calls.Load())
	}
	logged := strings.Join(log.Lines(), "\n")
	for _, want := range []string{"diagnosis", "name=gone.example.test.", "qtype=A", "rcode=NXDOMAIN",
		"cause=nxdomain_confirmed", "summary=", "upstream=192.0.2.53:53", "duration_ms="} {
		if !strings.Contains(logged, want) {
			t.Errorf("log %q lacks %q", logged, want)
		}
	}
	// A different rcode for the same name is a new diagnosis.
	e.Observe(Failure{Name: "gone.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 1)
	// Verdicts expire StoreTTL after they were last seen.
	clk.Advance(time.Minute)
	if _, ok := e.Lookup("gone.example.test.", dns.TypeA); ok {
		t.Error("verdict outlived its TTL")
	}
}

func TestObserveNeverBlocksAndDropsWhenFull(t *testing.T) {
	p := &fakeProber{hold: make(chan struct{}), fd: nxFindings("example.test.")}
	e, err := New(Config{Prober: p, Workers: 2, QueueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 { // the workers are held: the queue fills
		e.Observe(Failure{Name: fmt.Sprintf("n%d.example.test.", i), Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	}
	st := e.Stats()
	if st.Dropped == 0 || st.Dropped+uint64(len(e.queue))+uint64(p.calls.Load()) < 1000-2 {
		t.Errorf("stats %+v with %d queued: failures lost or not counted", st, len(e.queue))
	}
	if len(e.queue) > 8 {
		t.Errorf("queue holds %d, above its bound of 8", len(e.queue))
	}
	e.Close() // cancels the held probes; returns only when the workers are gone
}

func TestProbeBudgetAndRate(t *testing.T) {
	p := &fakeProber{probes: 1000, fd: nxFindings("example.test.")}
	log := dnstest.NewLog()
	e, err := New(Config{Prober: p, ProbeBudget: 10, ProbeRate: 1000, ProbeBurst: 5, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := time.Now()
	e.Observe(Failure{Name: "a.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	e.Observe(Failure{Name: "b.other.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 2)
	elapsed := time.Since(start).Seconds()
	if got := e.Stats().Probes; got != 20 {
		t.Errorf("probes = %d, want 2 diagnoses x budget 10", got)
	}
	// A token bucket allows at most burst + rate x elapsed.
	if limit := 5 + 1000*elapsed; float64(e.Stats().Probes) > limit+1 {
		t.Errorf("%d probes in %.3fs exceeds the rate limit (%f)", e.Stats().Probes, elapsed, limit)
	}
}

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

func TestSetProberAppliesToNextDiagnosis(t *testing.T) {
	first := &fakeProber{fd: nxFindings("one.test.")}
	second := &fakeProber{fd: Findings{Zone: "two.test.", Auth: []Answer{dead("192.0.2.9:53")}}}
	log := dnstest.NewLog()
	e, err := New(Config{Prober: first, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Observe(Failure{Name: "a.one.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError})
	waitDiagnosed(t, log, 1)
	e.SetProber(second)
	e.Observe(Failure{Name: "b.two.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	waitDiagnosed(t, log, 1)
	if first.calls.Load() != 1 || second.calls.Load() != 1 {
		t.Errorf("calls: first %d, second %d; want 1 and 1", first.calls.Load(), second.calls.Load())
	}
	if v, _ := e.Lookup("b.two.test.", dns.TypeA); v.Cause != AuthoritativeUnreachable {
		t.Errorf("verdict after SetProber: %+v", v)
	}
}

func TestAnnotationAndWait(t *testing.T) {
	p := &fakeProber{hold: make(chan struct{}), fd: Findings{Zone: "lame.test.", Auth: []Answer{refused("192.0.2.9:53")}}}
	e, err := New(Config{Prober: p})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, ok := e.Annotation("www.lame.test.", dns.TypeA, dns.RcodeServerFailure); ok {
		t.Fatal("an annotation before any verdict")
	}
	// A wait that times out leaves nothing behind.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if _, _, ok := e.Wait(ctx, "www.lame.test.", dns.TypeA, dns.RcodeServerFailure); ok {
		t.Error("Wait returned an annotation that does not exist")
	}
	cancel()
	e.mu.Lock()
	left := len(e.waiters)
	e.mu.Unlock()
	if left != 0 {
		t.Errorf("%d waiters left after a timed-out Wait", left)
	}

	got := make(chan string, 1)
	go func() {
		_, text, _ := e.Wait(context.Background(), "WWW.lame.test.", dns.TypeA, dns.RcodeServerFailure)
		got <- text
	}()
	e.Observe(Failure{Name: "www.lame.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, Upstream: "192.0.2.53:53"})
	close(p.hold) // the diagnosis completes now, not before
	if text := <-got; !strings.HasPrefix(text, "nxray: lame_delegation: The parent of lame.test.") {
		t.Errorf("Wait gave %q", text)
	}
	code, _, ok := e.Annotation("www.lame.test.", dns.TypeA, dns.RcodeServerFailure)
	if !ok || code != dns.ExtendedErrorCodeNoReachableAuthority {
		t.Errorf("annotation code %d, %v; want 22", code, ok)
	}
	if _, _, ok := e.Annotation("www.lame.test.", dns.TypeA, dns.RcodeNameError); ok {
		t.Error("a SERVFAIL verdict annotated an NXDOMAIN answer")
	}
}

func TestNoAnswerVerdictAnnotatesNxraysSERVFAIL(t *testing.T) {
	log := dnstest.NewLog()
	e, err := New(Config{Prober: &fakeProber{}, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Observe(Failure{Name: "x.test.", Qtype: dns.TypeA, Rcode: NoAnswer, Upstream: "192.0.2.53:53"})
	waitDiagnosed(t, log, 1)
	if code, text, ok := e.Annotation("x.test.", dns.TypeA, dns.RcodeServerFailure); !ok || code != 22 ||
		!strings.Contains(text, "upstream_unreachable") {
		t.Errorf("annotation %d %q %v", code, text, ok)
	}
}

func TestSubscribeAndGet(t *testing.T) {
	e, err := New(Config{Prober: &fakeProber{fd: nxFindings("example.test.")}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ch, stop := e.Subscribe()
	defer stop()
	e.Observe(Failure{Name: "a.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError})
	v := <-ch
	if v.Name != "a.example.test." || v.ID == "" {
		t.Fatalf("published %+v", v)
	}
	if got, ok := e.Get(v.ID); !ok || got.Name != v.Name {
		t.Errorf("Get(%q) = %+v, %v", v.ID, got, ok)
	}
	if _, ok := e.Get("nope"); ok {
		t.Error("Get of an unknown ID found something")
	}
}

// hangingProber never finishes on its own, like a probe of a server that
// swallows every packet: only the diagnosis timeout ends it.
type hangingProber struct{}

func (hangingProber) Probe(ctx context.Context, f Failure, take func() bool) (Findings, []Evidence) {
	<-ctx.Done()
	return Findings{}, []Evidence{{Server: "192.0.2.1:53", Role: "authoritative", Error: "timeout"}}
}

func TestSlowServersDoNotStickWorkers(t *testing.T) {
	log := dnstest.NewLog()
	e, err := New(Config{Prober: hangingProber{}, Workers: 1, Timeout: 50 * time.Millisecond, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i := range 3 {
		e.Observe(Failure{Name: fmt.Sprintf("n%d.slow.test.", i), Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	}
	// One worker, three diagnoses that each hang: all three finish, each
	// cut off by the timeout, and say what they saw.
	waitDiagnosed(t, log, 3)
	for i := range 3 {
		v, ok := e.Lookup(fmt.Sprintf("n%d.slow.test.", i), dns.TypeA)
		if !ok || v.Cause != Unknown || len(v.Evidence) != 1 {
			t.Errorf("verdict %d: %+v", i, v)
		}
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

// Failures of one name observed at once, while its diagnosis ends, make one
// diagnosis: none slips between the verdict's storing and the queue. (The
// cause is not zone-wide, so no zone verdict catches a late one either.)
func TestConcurrentFailuresOneDiagnosis(t *testing.T) {
	for range 20 {
		p := &fakeProber{} // nothing found: unknown
		log := dnstest.NewLog()
		e, err := New(Config{Prober: p, Logger: log.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					e.Observe(Failure{Name: "www.example.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
				}
			}()
		}
		waitDiagnosed(t, log, 1)
		stop.Store(true)
		wg.Wait()
		e.Close()
		if n := p.calls.Load(); n != 1 {
			t.Fatalf("%d diagnoses of one name's failures, want 1 (stats %+v)", n, e.Stats())
		}
	}
}

// A diagnosis cut short by Close is no verdict: nothing is stored or logged.
func TestShutdownDropsUnfinishedDiagnosis(t *testing.T) {
	p := &fakeProber{hold: make(chan struct{}), probes: 1, fd: Findings{Zone: "dead.test.", Auth: []Answer{dead("192.0.2.1:53")}}}
	log := dnstest.NewLog()
	e, err := New(Config{Prober: p, Logger: log.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	e.Observe(Failure{Name: "www.dead.test.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure})
	for p.calls.Load() == 0 {
		runtime.Gosched()
	}
	e.Close() // the held probe returns when the diagnosis's context ends
	if st := e.Stats(); st.Diagnosed != 0 || len(e.Verdicts()) != 0 {
		t.Errorf("a diagnosis cut short by Close was kept: %+v, %d verdicts", st, len(e.Verdicts()))
	}
	for _, l := range log.Lines() {
		if strings.HasPrefix(l, "diagnosis") {
			t.Errorf("logged: %s", l)
		}
	}
}
