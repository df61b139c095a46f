package dnstest

import (
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ask(network, addr, name string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
	return r, err
}

// failing stands in for a test whose Fatal is the point: it reports the
// failure on a channel and ends its goroutine, as testing.T's does.
type failing struct {
	testing.TB
	failed chan string
}

func (f *failing) Helper()           {}
func (f *failing) Fatal(args ...any) { f.failed <- fmt.Sprint(args...); runtime.Goexit() }
func (f *failing) Fatalf(format string, args ...any) {
	f.failed <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// mustFail runs fn on a failing TB and returns its failure message; it
// fails t if fn returns without one.
func mustFail(t *testing.T, fn func(testing.TB)) string {
	t.Helper()
	f := &failing{TB: t, failed: make(chan string, 1)}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	select {
	case msg := <-f.failed:
		return msg
	default:
		t.Fatal("no failure")
		return ""
	}
}

func TestServerAnswersUDPAndTCPOnOnePort(t *testing.T) {
	s := Start(t, AnswerA("192.0.2.1", 60))
	if s.LastQuery() != nil || s.Queries() != 0 {
		t.Fatalf("before any query: last %v, %d queries", s.LastQuery(), s.Queries())
	}
	for _, tt := range []struct{ network, name string }{{"udp", "u.example.test."}, {"tcp", "t.example.test."}} {
		r, err := ask(tt.network, s.Addr, tt.name)
		if err != nil {
			t.Fatalf("over %s: %v", tt.network, err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("over %s: %v", tt.network, r)
		}
		if q := s.LastQuery(); q == nil || q.Question[0].Name != tt.name {
			t.Errorf("last query %v, want %s", q, tt.name)
		}
	}
	if s.Queries() != 2 {
		t.Errorf("%d queries counted, want 2", s.Queries())
	}
}

// A stopped server refuses at once; StartAt brings it back at its address.
func TestStopAndStartAtTheSameAddress(t *testing.T) {
	s := Start(t, AnswerA("192.0.2.1", 60))
	s.Stop()
	s.Stop()
	for _, network := range []string{"udp", "tcp"} {
		if _, err := ask(network, s.Addr, "x.example.test."); err == nil {
			t.Errorf("a stopped server answered over %s", network)
		}
	}
	back := StartAt(t, s.Addr, AnswerA("192.0.2.2", 60))
	if back.Addr != s.Addr {
		t.Fatalf("started at %s, want %s", back.Addr, s.Addr)
	}
	if r, err := ask("udp", back.Addr, "x.example.test."); err != nil || r.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
		t.Errorf("back: %v %v", r, err)
	}
}

func TestServersListenOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"192.0.2.1:0", "0.0.0.0:0", "[::]:0", "localhost:0"} {
		msg := mustFail(t, func(tb testing.TB) { StartAt(tb, addr, AnswerA("192.0.2.1", 60)) })
		if !strings.Contains(msg, "loopback") {
			t.Errorf("StartAt(%s): %s", addr, msg)
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if msg := mustFail(t, func(tb testing.TB) { Serve(tb, &dns.Server{}) }); !strings.Contains(msg, "neither") {
		t.Errorf("Serve of a server with nothing to serve on: %s", msg)
	}
}

func TestServeAndStop(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := Serve(t, &dns.Server{PacketConn: pc, Handler: AnswerA("192.0.2.3", 60)})
	addr := pc.LocalAddr().String()
	if r, err := ask("udp", addr, "s.example.test."); err != nil || r.Answer[0].(*dns.A).A.String() != "192.0.2.3" {
		t.Fatalf("served: %v %v", r, err)
	}
	stop()
	if _, err := ask("udp", addr, "s.example.test."); err == nil {
		t.Error("answered after stop")
	}
}

func TestDeadAddrRefuses(t *testing.T) {
	addr := DeadAddr(t)
	for _, network := range []string{"udp", "tcp"} {
		if _, err := ask(network, addr, "d.example.test."); err == nil {
			t.Errorf("a dead address answered over %s", network)
		}
	}
}

func TestBlackholeNeverAnswers(t *testing.T) {
	addr, arrived := Blackhole(t)
	c := &dns.Client{Timeout: 50 * time.Millisecond}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("b.example.test.", dns.TypeA), addr); err == nil {
		t.Error("a black hole answered")
	}
	select {
	case <-arrived:
	case <-time.After(Timeout):
		t.Error("the query's arrival was not signalled")
	}
}

func TestClock(t *testing.T) {
	c := NewClock()
	start := c.Now()
	if want := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC); !start.Equal(want) {
		t.Fatalf("starts at %s, want %s", start, want)
	}
	c.Advance(90 * time.Second)
	if got := c.Now().Sub(start); got != 90*time.Second {
		t.Errorf("advanced by %s, want 90s", got)
	}
	later := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	c.Set(later)
	if !c.Now().Equal(later) {
		t.Errorf("set to %s, reads %s", later, c.Now())
	}
}

func TestLogWaitAndLines(t *testing.T) {
	l := NewLog()
	log := l.Logger()
	go func() {
		log.Info("query", "name", "a.example.test.", "cached", false)
		log.Debug("upstream down", "upstream", "127.0.0.1:53")
		log.With("ignored", 1).Info("query", "name", "b.example.test.")
	}()
	if line := l.Wait(t, "query"); line != "query name=a.example.test. cached=false" {
		t.Errorf("first: %q", line)
	}
	if line := l.Wait(t, "query"); line != "query name=b.example.test." {
		t.Errorf("second: %q", line)
	}
	want := []string{"query name=a.example.test. cached=false", "upstream down upstream=127.0.0.1:53", "query name=b.example.test."}
	if got := l.Lines(); !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	// The record passed over before the second query is not waited for again.
	msg := mustFail(t, func(tb testing.TB) { l.WaitWithin(tb, "upstream down", 10*time.Millisecond) })
	if !strings.Contains(msg, `no "upstream down" log record within 10ms`) {
		t.Errorf("failure: %s", msg)
	}
}
