package proxy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestObserverSeesEveryFailedAnswer(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		switch r.Question[0].Name {
		case "nx.example.test.":
			answerRcode(dns.RcodeNameError, testSOA(60, 60))(w, r)
		case "sf.example.test.":
			answerRcode(dns.RcodeServerFailure, nil)(w, r)
		case "ref.example.test.":
			answerRcode(dns.RcodeRefused, nil)(w, r)
		default:
			dnstest.AnswerA("192.0.2.1", 60)(w, r)
		}
	})
	obs := &recordingObserver{}
	_, addr := startProxy(t, func(c *Config) { c.Observer = obs; c.FailoverRcodes = nil }, up.Addr)
	for _, name := range []string{"ok.example.test.", "nx.example.test.", "sf.example.test.", "ref.example.test.", "nx.example.test."} {
		ask(t, "udp", addr, question(name, dns.TypeA))
	}
	got := obs.failures()
	want := []struct {
		name   string
		rcode  int
		cached bool
	}{
		{"nx.example.test.", dns.RcodeNameError, false},
		{"sf.example.test.", dns.RcodeServerFailure, false},
		{"ref.example.test.", dns.RcodeRefused, false},
		{"nx.example.test.", dns.RcodeNameError, true},
	}
	if len(got) != len(want) {
		t.Fatalf("observer got %d failures, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Rcode != w.rcode || got[i].Cached != w.cached {
			t.Errorf("failure %d = %s %s cached=%v, want %s %s cached=%v", i, got[i].Name,
				dns.RcodeToString[got[i].Rcode], got[i].Cached, w.name, dns.RcodeToString[w.rcode], w.cached)
		}
		if !got[i].Cached && got[i].Upstream != up.Addr {
			t.Errorf("failure %d upstream = %q, want %q", i, got[i].Upstream, up.Addr)
		}
	}
}

func TestShutdownDrainsQueriesInFlight(t *testing.T) {
	up, arrived, unblock := heldUpstream(t, "slow.example.test.")
	// A long try timeout: on a loaded machine the held query must not time out.
	s, addr := startProxy(t, func(c *Config) { c.Timeout = 10 * time.Second; c.Deadline = 10 * time.Second }, up.Addr)
	answered := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Timeout: 5 * time.Second}
		r, _, _ := c.Exchange(question("slow.example.test.", dns.TypeA), addr)
		answered <- r
	}()
	<-arrived
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	select {
	case <-stopped:
		t.Fatal("Shutdown returned while a query was still in flight")
	case r := <-answered:
		t.Fatalf("query answered before its upstream did: %v", r)
	default:
	}
	unblock()
	if r := <-answered; r == nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("query in flight at shutdown got %v, want its answer", r)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestTCPShutdown(t *testing.T) {
	t.Run("answers in flight are written", func(t *testing.T) {
		up, arrived, release := gatedUpstream(t, "a.slow.test.", "b.slow.test.")
		s, addr := startProxy(t, func(c *Config) {
			c.TCPIdleTimeout = time.Minute
			c.Timeout, c.Deadline = 10*time.Second, 10*time.Second
		}, up.Addr)
		c := &dns.Conn{Conn: dial(t, addr)}
		send(t, c, question("a.slow.test.", dns.TypeA), 7)
		send(t, c, question("b.slow.test.", dns.TypeA), 8)
		wait(t, arrived, "first slow query upstream")
		wait(t, arrived, "second slow query upstream")
		idle := dialAndAsk(t, addr)
		defer idle.Close()
		idle.SetDeadline(time.Now().Add(5 * time.Second))
		stopped := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stopped <- s.Shutdown(ctx)
		}()
		// Shutdown has begun once it closes the idle connection.
		if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("shutdown did not close an idle connection: %v", err)
		}
		for _, q := range []struct {
			name string
			id   uint16
		}{{"b.slow.test.", 8}, {"a.slow.test.", 7}} {
			select {
			case err := <-stopped:
				t.Fatalf("Shutdown returned (%v) while a query was in flight", err)
			default:
			}
			release[q.name]()
			if r := receive(t, c, q.id); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("answer in flight at shutdown: %v", r)
			}
		}
		if _, err := c.ReadMsg(); err == nil || isTimeout(err) {
			t.Errorf("connection not closed once drained: %v", err)
		}
		if err := wait(t, stopped, "Shutdown"); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	t.Run("past the drain deadline", func(t *testing.T) {
		up, arrived, _ := gatedUpstream(t, "a.slow.test.", "b.slow.test.")
		s, addr := startProxy(t, func(c *Config) { c.Timeout, c.Deadline = 10*time.Second, 10*time.Second }, up.Addr)
		c := &dns.Conn{Conn: dial(t, addr)}
		send(t, c, question("a.slow.test.", dns.TypeA), 7)
		send(t, c, question("b.slow.test.", dns.TypeA), 8)
		wait(t, arrived, "first slow query upstream")
		wait(t, arrived, "second slow query upstream")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want the drain deadline reported", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Shutdown took %v with a 200ms drain deadline", d)
		}
		buf := make([]byte, 1<<20)
		if stacks := buf[:runtime.Stack(buf, true)]; bytes.Contains(stacks, []byte("proxy.(*tcp")) {
			t.Errorf("TCP server goroutines left after Shutdown:\n%s", stacks)
		}
		// The queries given up may still have had their SERVFAIL written,
		// before the connection was closed; nothing else.
		for {
			r, err := c.ReadMsg()
			if err != nil {
				if isTimeout(err) {
					t.Errorf("connection left open past the drain deadline")
				}
				break
			}
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("answer past the drain deadline: %v", r)
			}
		}
	})
}

// TestShutdownDeadlineCutsQueriesShort: past the drain deadline, a query
// waiting on a silent upstream gives up, also when a reload left it on the
// old pool.
func TestShutdownDeadlineCutsQueriesShort(t *testing.T) {
	for _, reload := range []bool{false, true} {
		t.Run(map[bool]string{false: "in flight", true: "in flight on the pool a reload left"}[reload], func(t *testing.T) {
			silent, got := dnstest.Blackhole(t)
			s, addr := startProxy(t, func(c *Config) { c.Timeout = 10 * time.Second; c.Deadline = 10 * time.Second }, silent)
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			b, _ := question("stuck.example.test.", dns.TypeA).Pack()
			conn.Write(b)
			<-got
			if reload {
				if err := s.Reload(s.cfg); err != nil { // the same upstreams, in a new pool
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err = s.Shutdown(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want the drain deadline reported", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Shutdown took %v with a 200ms drain deadline", d)
			}
		})
	}
}

// TestReloadDuringFailover: a query whose first try is waiting on a silent
// upstream when a reload replaces the pool still goes on to the next
// upstream of its pool, over UDP and TCP: the old pool's transports carry
// the tries their queries still make.
func TestReloadDuringFailover(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			silent, got := dnstest.Blackhole(t)
			good := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
			s, addr := startProxy(t, func(c *Config) { c.Timeout, c.Cache.Size = 500*time.Millisecond, 0 }, silent, good.Addr)
			answer := make(chan *dns.Msg, 1)
			go func() {
				c := &dns.Client{Net: network, Timeout: 5 * time.Second}
				r, _, _ := c.Exchange(question("mid.example.test.", dns.TypeA), addr)
				answer <- r
			}()
			wait(t, got, "the query at the silent upstream")
			if err := s.Reload(s.cfg); err != nil { // the same upstreams, in a new pool
				t.Fatal(err)
			}
			if r := wait(t, answer, "the answer"); r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("answer after a reload mid-failover: %v", r)
			}
		})
	}
}

func TestReloadSwapsUpstreamsAndACL(t *testing.T) {
	a := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	b := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
	var cfg Config
	s, addr := startProxy(t, func(c *Config) { cfg = *c }, a.Addr)
	if r := ask(t, "udp", addr, question("one.example.test.", dns.TypeA)); r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("before reload: %v", r)
	}
	cfg.Upstreams = []Upstream{{Net: "tcp", Addr: b.Addr}}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, "udp", addr, question("two.example.test.", dns.TypeA)); r.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Fatalf("after reload: %v", r)
	}
	cfg.ACL = nil
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, "udp", addr, question("three.example.test.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
		t.Errorf("after reloading an empty ACL: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	cfg.Upstreams = nil
	if err := s.Reload(cfg); err == nil {
		t.Error("reload with no upstreams was accepted")
	}
}

func TestUpstreamComesBackAfterHealthProbe(t *testing.T) {
	addr0 := dnstest.DeadAddr(t)
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.5", 60))
	events := dnstest.NewLog()
	_, addr := startProxy(t, func(c *Config) {
		c.HealthInterval = 20 * time.Millisecond
		c.Cache.Size = 0
		c.Logger = events.Logger()
	}, addr0, good.Addr)
	if r := ask(t, "udp", addr, question("h.example.test.", dns.TypeA)); r.Answer[0].(*dns.A).A.String() != "192.0.2.5" {
		t.Fatalf("failover to the second upstream: %v", r)
	}
	events.Wait(t, "upstream down")
	// Bring the first upstream to life at its old address; the probe finds it.
	back := dnstest.StartAt(t, addr0, dnstest.AnswerA("192.0.2.4", 60))
	events.Wait(t, "upstream up")
	if back.Queries() == 0 {
		t.Error("no health probe reached the upstream")
	}
	if r := ask(t, "udp", addr, question("h2.example.test.", dns.TypeA)); r.Answer[0].(*dns.A).A.String() != "192.0.2.4" {
		t.Errorf("first upstream not used again after recovery: %v", r)
	}
}
