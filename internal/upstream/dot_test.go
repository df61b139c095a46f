package upstream

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

func newDoT(t *testing.T, addr, name string, ca *dnstest.CA, idle time.Duration) *dotTransport {
	t.Helper()
	tr := NewDoT(context.Background(), addr, name, ca.ClientConfig(), idle, new(atomic.Uint64))
	t.Cleanup(func() {
		tr.Close()
		tr.wait() // every connection's goroutine has ended
	})
	return tr
}

// TestDoTPipelinesOutOfOrder: two queries share one connection, and the
// second's answer, sent first, reaches it while the first still waits.
func TestDoTPipelinesOutOfOrder(t *testing.T) {
	ca, cert := testCA(t)
	release := make(chan struct{})
	srv := startDoT(t, cert, func(q *dns.Msg) *dns.Msg {
		if q.Question[0].Name == "slow.test." {
			<-release
		}
		return answerA(q)
	})
	tr := newDoT(t, srv.addr, "", ca, time.Minute)
	slow := make(chan error, 1)
	go func() {
		_, err := exchange(t, tr, "slow.test.", 5*time.Second)
		slow <- err
	}()
	// The slow query is on the connection before the fast one goes: wait
	// until the transport holds it.
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.conns) == 1 && len(tr.conns[0].pending) == 1
	})
	r, err := exchange(t, tr, "fast.test.", 5*time.Second)
	if err != nil || r.Question[0].Name != "fast.test." {
		t.Fatalf("fast: %v %v", r, err)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow: %v", err)
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1 (pipelined)", n)
	}
}

// TestDoTKeepsIDAndReusesConnection: the answer carries the caller's ID,
// and a hundred queries in a row take one connection.
func TestDoTKeepsIDAndReusesConnection(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, answerA)
	tr := newDoT(t, srv.addr, "dns.test", ca, time.Minute)
	for i := range 100 {
		q := new(dns.Msg).SetQuestion("x.test.", dns.TypeA)
		q.Id = uint16(i + 1)
		b, _ := q.Pack()
		r, err := tr.Exchange(context.Background(), b, time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if r.Unpack() != nil || r.Msg.Id != q.Id {
			t.Fatalf("answer ID %d, want %d", r.Msg.Id, q.Id)
		}
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// TestDoTManyInFlight: far more queries at once than one connection
// carries all get answers, over a bounded number of connections, none
// failing at once for want of room.
func TestDoTManyInFlight(t *testing.T) {
	ca, cert := testCA(t)
	gate := make(chan struct{})
	srv := startDoT(t, cert, func(q *dns.Msg) *dns.Msg { <-gate; return answerA(q) })
	tr := newDoT(t, srv.addr, "", ca, time.Minute)
	const n = 2000
	var wg sync.WaitGroup
	var failed atomic.Int64
	var waiting atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Add(1)
			if _, err := exchange(t, tr, "many.test.", 20*time.Second); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		}()
	}
	// Let answers flow once the connections are full: the rest must wait
	// for room rather than fail.
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		full := 0
		for _, c := range tr.conns {
			full += len(c.pending)
		}
		return full == dotConns*dotPending
	})
	close(gate)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d queries failed", failed.Load(), n)
	}
	if a := srv.accepted.Load(); a > dotConns {
		t.Errorf("%d connections, want at most %d", a, dotConns)
	}
}

// TestDoTReconnectsAfterServerCloses: when the server drops the
// connection, the next query opens another and is answered.
func TestDoTReconnectsAfterServerCloses(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, answerA)
	tr := newDoT(t, srv.addr, "", ca, time.Minute)
	if _, err := exchange(t, tr, "a.test.", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	srv.closeConns()
	if _, err := exchange(t, tr, "b.test.", 5*time.Second); err != nil {
		t.Fatalf("after the server closed: %v", err)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("server accepted %d connections, want 2", n)
	}
}

// TestDoTIdleTimeoutCloses: a connection no query used for the idle
// timeout is closed by nxray, and its goroutine ends.
func TestDoTIdleTimeoutCloses(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, answerA)
	tr := newDoT(t, srv.addr, "", ca, 50*time.Millisecond)
	if _, err := exchange(t, tr, "a.test.", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.open() == 0 })
	tr.wait()
}

// TestDoTDeadlineAndCancel: a query the server never answers ends at its
// deadline, or when its context is cancelled, and leaves the connection
// to the others.
func TestDoTDeadlineAndCancel(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, func(q *dns.Msg) *dns.Msg {
		if q.Question[0].Name == "never.test." {
			return nil
		}
		return answerA(q)
	})
	tr := newDoT(t, srv.addr, "", ca, time.Minute)
	_, err := exchange(t, tr, "never.test.", 200*time.Millisecond)
	if !isTimeout(err) {
		t.Errorf("unanswered: %v, want a timeout", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := tr.Exchange(ctx, packed(t, "never.test.", dns.TypeA), time.Now().Add(time.Minute))
		done <- err
	}()
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.conns) == 1 && len(tr.conns[0].pending) == 1
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := exchange(t, tr, "a.test.", 5*time.Second); err != nil {
		t.Errorf("after: %v", err)
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

// TestDoTCertificateReasons: the failures a person must fix get short
// reasons: a certificate from another CA, one for another name, a server
// that is not there.
func TestDoTCertificateReasons(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, answerA)
	dead := dnstest.DeadAddr(t)
	for _, tt := range []struct {
		name, addr, server string
		ca                 *dnstest.CA
		want               string
	}{
		{"wrong CA", srv.addr, "", dnstest.NewCA(t), "certificate signed by unknown authority"},
		{"wrong name", srv.addr, "other.test", ca, "certificate is valid for dns.test, not other.test"},
		{"refused", dead, "", ca, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newDoT(t, tt.addr, tt.server, tt.ca, time.Minute)
			_, err := exchange(t, tr, "a.test.", 5*time.Second)
			if got := Reason(err); !strings.Contains(got, tt.want) {
				t.Errorf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
	}
}

// TestDirectAsksByName: Direct asks an encrypted resolver named by its
// String(), and refuses one it was not built with.
func TestDirectAsksByName(t *testing.T) {
	ca, cert := testCA(t)
	srv := startDoT(t, cert, answerA)
	u := Upstream{Net: "tls", Addr: srv.addr, ServerName: "dns.test", TLS: ca.ClientConfig()}
	d := NewDirect(context.Background(), []Upstream{u, {Net: "udp", Addr: "127.0.0.1:53"}})
	defer d.Close()
	r, err := d.Exchange(context.Background(), "tls://"+srv.addr+"#dns.test", new(dns.Msg).SetQuestion("a.test.", dns.TypeA))
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := d.Exchange(context.Background(), "127.0.0.1:53", new(dns.Msg).SetQuestion("a.test.", dns.TypeA)); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("a plain server: %v", err)
	}
}

// TestBusyIsNotTheUpstreamsFault: a try that waited for room on the
// upstream's connections until its time ran out (nxray's own load) does
// not count against the upstream; a try the upstream failed does.
func TestBusyIsNotTheUpstreamsFault(t *testing.T) {
	p := NewPool(Config{Upstreams: []Upstream{{Net: "tls", Addr: "127.0.0.1:853"}}, Strategy: "failover",
		Timeout: time.Second, HealthInterval: time.Hour, Log: slog.New(slog.DiscardHandler), Mismatched: new(atomic.Uint64)})
	defer p.Close()
	m := p.ms[0]
	q := packed(t, "busy.test.", dns.TypeA)
	start := time.Now()
	for _, name := range []string{"a.test.", "b.test.", "c.test."} {
		p.tried(context.Background(), m, start, start.Add(time.Second), packed(t, name, dns.TypeA), Reply{}, ErrBusy)
	}
	if st := p.States()[0]; st.Failing || st.Down {
		t.Errorf("busy tries counted against the upstream: %+v", st)
	}
	p.tried(context.Background(), m, start, start.Add(time.Second), q, Reply{}, &ReasonError{Reason: "connection refused"})
	if st := p.States()[0]; !st.Failing {
		t.Errorf("a refused try not counted: %+v", st)
	}
}
