package diagnose_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/lab"
	"github.com/nxray/nxray/proxy"
)

// nxUpstream answers NXDOMAIN with ok.test.'s SOA to everything, fast, as a
// resolver does for random names under a zone.
func nxUpstream(t testing.TB) string {
	t.Helper()
	soa, _ := dns.NewRR("ok.test. 300 IN SOA ns1.ok.test. hostmaster.ok.test. 2026050102 3600 600 86400 300")
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{soa}
		w.WriteMsg(m)
	}).Addr
}

// The engine's limits in the flood test and benchmark.
const (
	floodProbeRate  = 50.0
	floodProbeBurst = 10
	floodQueue      = 32
	floodWorkers    = 2
)

// startFloodProxy starts an engine probing the lab and a proxy in front of
// an upstream that answers NXDOMAIN for ok.test., with a cache of
// cacheSize answers. Both read the time from clk, or the system's if it is
// nil; the engine logs to log, or nowhere if it is nil. The caller shuts
// both down.
func startFloodProxy(tb testing.TB, cacheSize int, clk *dnstest.Clock, log *dnstest.Log) (*diagnose.Engine, *proxy.Server) {
	tb.Helper()
	h := startLab(tb)
	up := nxUpstream(tb)
	now, logger := time.Now, slog.New(slog.DiscardHandler)
	if clk != nil {
		now = clk.Now
	}
	if log != nil {
		logger = log.Logger()
	}
	// Every lab server a diagnosis of these names reaches answers: the
	// probe timeout only runs out on a slow machine, where a short one
	// made the first verdict "unreachable", not the zone's NXDOMAIN that
	// the flood is grouped under.
	p, err := diagnose.NewNetProber(diagnose.ProbeConfig{Upstreams: []string{up},
		Alternates: []string{h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]},
		RootHints:  h.RootHints, AuthPort: h.Port, TrustAnchors: h.TrustAnchors, Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := diagnose.New(diagnose.Config{Prober: p, Workers: floodWorkers, QueueSize: floodQueue,
		ProbeRate: floodProbeRate, ProbeBurst: floodProbeBurst, Logger: logger, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := proxy.New(proxy.Config{Listen: []string{"127.0.0.1:0"}, Upstreams: []proxy.Upstream{{Net: "udp", Addr: up}},
		ACL: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Observer: adapt.Observer(eng, ""),
		Cache: proxy.CacheConfig{Size: cacheSize, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour}, Now: now})
	if err != nil {
		eng.Close()
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		eng.Close()
		tb.Fatal(err)
	}
	return eng, srv
}

// TestFloodOfRandomNamesInOneZone: 12,000 distinct failing names under one
// zone. The proxy answers every one; the engine stays bounded, counts what
// it drops or groups, and keeps its probes within the rate limit; and once
// the cache is full and the zone judged, memory stops growing.
//
// The clock stands still, so the flood lasts no time however slow the
// machine: its one name a second let through to a diagnosis of its own
// is one name in all, not one per second the test takes. Each phase ends
// once the engine has a verdict for every failure it queued.
func TestFloodOfRandomNamesInOneZone(t *testing.T) {
	const rate, burst, queue, workers = floodProbeRate, floodProbeBurst, floodQueue, floodWorkers
	log := dnstest.NewLog()
	eng, srv := startFloodProxy(t, 1000, dnstest.NewClock(), log)
	addr := srv.Addrs()[0].String()
	idle := func() { // waits until every failure queued is diagnosed
		t.Helper()
		for st := eng.Stats(); st.Observed > st.Deduplicated+st.Grouped+st.Dropped+st.Diagnosed; st = eng.Stats() {
			log.WaitWithin(t, "diagnosis", time.Minute)
		}
	}

	start := time.Now()
	const n, senders, phases = 12000, 8, 3
	var answered atomic.Int32
	var heap [phases]uint64 // live heap after each phase of the flood
	for p := range phases {
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &dns.Client{Timeout: 5 * time.Second}
				for i := p*n/phases + s; i < (p+1)*n/phases; i += senders {
					q := new(dns.Msg).SetQuestion(fmt.Sprintf("r%05d-%x.ok.test.", i, i*2654435761), dns.TypeA)
					if r, _, err := c.Exchange(q, addr); err == nil && r.Rcode == dns.RcodeNameError {
						answered.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		idle()
		heap[p] = liveHeap()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	eng.Close()
	elapsed := time.Since(start).Seconds() // no probe is sent after Close

	if answered.Load() != n {
		t.Errorf("the proxy answered %d of %d queries during the flood", answered.Load(), n)
	}
	st := eng.Stats()
	if st.Observed != n {
		t.Errorf("engine saw %d failures, want %d", st.Observed, n)
	}
	if st.Deduplicated+st.Grouped+st.Dropped+st.Diagnosed > st.Observed || st.Grouped+st.Dropped == 0 {
		t.Errorf("stats do not account for the flood: %+v", st)
	}
	// Before the zone's first verdict, the workers and the queue take the
	// first names; after it, the names before the flood's rate is reached
	// and the one name sampled may take the places diagnoses free.
	if st.Diagnosed > workers+queue+diagnose.FloodNames {
		t.Errorf("%d diagnoses for one zone's flood: the queue or grouping is not bounding it (%+v)", st.Diagnosed, st)
	}
	// The status page shows the diagnoses, with the flood's names counted
	// onto them, not a verdict per flood name.
	vs, grouped := eng.Verdicts(), 0
	for _, v := range vs {
		grouped += v.Grouped
	}
	if uint64(len(vs)) > st.Diagnosed || uint64(grouped) != st.Grouped {
		t.Errorf("%d verdicts with %d failures grouped onto them, for %d diagnoses and %d grouped", len(vs), grouped, st.Diagnosed, st.Grouped)
	}
	if limit := float64(burst) + rate*elapsed; float64(st.Probes) > limit+1 {
		t.Errorf("%d probes in %.1fs, above the rate limit's %.0f", st.Probes, elapsed, limit)
	}
	// The first phase fills the cache (1000 answers) and judges the zone;
	// after that, fresh names replace old ones and memory must stop growing.
	if grew := int64(heap[2]) - int64(heap[1]); grew > 256<<10 {
		t.Errorf("live heap grew by %d KiB over the last %d fresh names (after each phase: %v bytes)", grew>>10, n/phases, heap)
	}
	t.Logf("%d queries in %.2fs; engine %+v; live heap after each phase %v", n, elapsed, st, heap)
}

// liveHeap is the heap still in use after two full collections.
func liveHeap() uint64 {
	// Twice: the first collection moves what sync.Pools hold (the proxy's
	// 64 KiB buffers, one per query that was in flight) to their victim
	// caches, the second frees it, so pooled buffers are not read as growth.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// judgedFlood starts a flood proxy and asks fresh names in ok.test. until
// the engine has judged the zone, so that the flood that follows is grouped
// under that verdict, as in a real flood. ask sends the next fresh name
// over UDP and returns the answer's rcode.
func judgedFlood(b *testing.B) (eng *diagnose.Engine, ask func() int) {
	eng, srv := startFloodProxy(b, 10000, nil, nil)
	b.Cleanup(eng.Close)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	c, err := net.Dial("udp", srv.Addrs()[0].String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	q := new(dns.Msg)
	buf := make([]byte, 1232)
	i := 0
	ask = func() int {
		i++
		q.SetQuestion(fmt.Sprintf("rnd-%d.ok.test.", i), dns.TypeA)
		wire, err := q.Pack()
		if err != nil {
			b.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(wire); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || n < 12 {
			b.Fatalf("reading the answer: %d bytes, %v", n, err)
		}
		return int(buf[3] & 0xF)
	}
	ask()
	for eng.Stats().Diagnosed == 0 {
		ask()
	}
	return eng, ask
}

// BenchmarkFloodQuery is one query of a random-subdomain NXDOMAIN flood, as
// a client sees it over UDP: a fresh name the proxy forwards, caches
// negatively and hands to the engine, which groups it with the zone's
// first verdict. Everything runs in this process, so ns/op includes the
// client and the upstream; allocs/op and a CPU profile show the proxy's share.
func BenchmarkFloodQuery(b *testing.B) {
	_, ask := judgedFlood(b)
	b.ReportAllocs()
	for b.Loop() {
		if rc := ask(); rc != dns.RcodeNameError {
			b.Fatalf("rcode %d, want NXDOMAIN", rc)
		}
	}
}

// BenchmarkObserveFlood is the engine's share of a flood query: Observe for
// a fresh name in a zone already judged, denied with the zone's SOA, which
// is counted onto the zone's verdict once the names come at a flood's rate.
// It runs on the proxy's answer path, once per flood query.
func BenchmarkObserveFlood(b *testing.B) {
	eng, _ := judgedFlood(b)
	soa := &diagnose.SOA{Zone: "ok.test.", Serial: 2026050102, TTL: 300, Minimum: 300}
	names := make([]string, 1<<16) // a name comes again long after the flood's memory of it is gone
	for i := range names {
		names[i] = fmt.Sprintf("x%d.ok.test.", i)
	}
	grouped, now := eng.Stats().Grouped, time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		eng.Observe(diagnose.Failure{Time: now, Name: names[i%len(names)], Qtype: dns.TypeA,
			Rcode: dns.RcodeNameError, Upstream: "127.0.0.1:53", SOA: soa})
		i++
	}
	// All but the names before the flood's rate was reached, and the one
	// sampled at its start, are grouped.
	if n := eng.Stats().Grouped - grouped; n+12 < uint64(i) {
		b.Fatalf("%d of %d failures grouped onto the zone's verdict", n, i)
	}
}
