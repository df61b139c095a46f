package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// BenchmarkCacheHit measures the hot path: a query answered from the cache,
// from the unpacked request to the bytes handed to the socket.
func BenchmarkCacheHit(b *testing.B) {
	s, up := cachingServer(b)
	benchServeHit(b, s, up, "www.example.test.")
}

// benchServeHit measures s answering an A query for name (EDNS0, 1232)
// from the cache, unpacked (ServeDNS), and checks that up was asked only to
// warm it.
func benchServeHit(b *testing.B, s *Server, up *dnstest.Server, name string) {
	req := question(name, dns.TypeA)
	req.SetEdns0(1232, false)
	w := newRecorder()
	s.ServeDNS(w, req) // warm
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.ServeDNS(w, req)
	}
	b.StopTimer()
	if up.Queries() != 1 {
		b.Fatalf("upstream saw %d queries: not a cache hit", up.Queries())
	}
}

// BenchmarkCacheHitParallel is the hot path from every core at once, over
// a spread of names, to show lock contention in the cache.
func BenchmarkCacheHitParallel(b *testing.B) {
	s, up := cachingServer(b)
	names := []string{"a.example.test.", "b.example.test.", "c.example.test.", "d.example.test.",
		"e.example.test.", "f.example.test.", "g.example.test.", "h.example.test."}
	for _, n := range names {
		s.ServeDNS(newRecorder(), question(n, dns.TypeA))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newRecorder()
		reqs := make([]*dns.Msg, len(names))
		for i, n := range names {
			reqs[i] = question(n, dns.TypeA)
		}
		i := 0
		for pb.Next() {
			s.ServeDNS(w, reqs[i%len(reqs)])
			i++
		}
	})
	b.StopTimer()
	if up.Queries() != len(names) {
		b.Fatalf("upstream saw %d queries for %d names: not all cache hits", up.Queries(), len(names))
	}
}

// BenchmarkForward measures a cache miss: the query packed, sent to an
// upstream on loopback over UDP, the answer read, checked and written.
func BenchmarkForward(b *testing.B) {
	up := dnstest.Start(b, dnstest.AnswerA("192.0.2.1", 3600))
	s, err := New(Config{
		Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}},
		ACL:       loopbackACL,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.route.Load().pool.Close()
	req := question("www.example.test.", dns.TypeA)
	w := newRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.ServeDNS(w, req)
	}
}

// cachingServer is a Server with a cache in front of an in-process upstream,
// not listening: benchmarks call ServeDNS directly.
func cachingServer(b *testing.B) (*Server, *dnstest.Server) {
	up := dnstest.Start(b, dnstest.AnswerA("192.0.2.1", 3600))
	s, err := New(Config{
		Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}},
		ACL:       loopbackACL,
		Cache:     CacheConfig{Size: 10000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.route.Load().pool.Close)
	return s, up
}

// BenchmarkUDPMiss is a cache miss as a UDP reader runs it: a fresh name
// each time, handed to a worker, sent upstream on a shared socket, the
// answer matched, cached and written to a loopback client.
func BenchmarkUDPMiss(b *testing.B) {
	s, _ := cachingServer(b)
	benchUDPMiss(b, s)
}

// benchUDPMiss sends a fresh name to s each time as a UDP reader does, and
// reads the answer at a loopback client.
func benchUDPMiss(b *testing.B, s *Server) {
	rig := newUDPRig(b, s)
	pkt := pack(b, question("q00000000.example.test.", dns.TypeA))
	label := pkt[dnscache.HeaderLen+2 : dnscache.HeaderLen+10] // the eight digits
	buf := make([]byte, 512)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		for j, n := len(label)-1, i; j >= 0; j, n = j-1, n/10 {
			label[j] = '0' + byte(n%10)
		}
		if !rig.handle(pkt) {
			b.Fatal("not sent upstream")
		}
		if _, err := rig.p.client.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHitNXDOMAIN is a cached NXDOMAIN, unpacked, with an
// observer: the failure is reported, with the SOA the client got.
func BenchmarkCacheHitNXDOMAIN(b *testing.B) {
	s, up := negativeServer(b)
	benchServeHit(b, s, up, "gone.example.test.")
}

// BenchmarkUDPMissNXDOMAIN is BenchmarkUDPMiss for names that do not
// exist, as in a random-subdomain flood, with an observer: each answer is
// a failure reported.
func BenchmarkUDPMissNXDOMAIN(b *testing.B) {
	s, _ := negativeServer(b)
	benchUDPMiss(b, s)
}

// negativeServer is cachingServer in front of an upstream that answers
// NXDOMAIN with a SOA, and with an observer that keeps nothing.
func negativeServer(b *testing.B) (*Server, *dnstest.Server) {
	up := dnstest.Start(b, answerRcode(dns.RcodeNameError, testSOA(3600, 3600)))
	s, err := New(Config{
		Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}},
		ACL:       loopbackACL,
		Cache:     CacheConfig{Size: 10000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
		Observer:  discardObserver{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.route.Load().pool.Close)
	return s, up
}

type discardObserver struct{}

func (discardObserver) Observe(Failure) {}
