package diagnose

import (
	"context"
	"fmt"
	"runtime"
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
