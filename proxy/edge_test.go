package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestIPv6Listener(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	} else {
		ln.Close()
	}
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, func(c *Config) { c.Listen = []string{"[::1]:0"} }, up.Addr)
	for _, network := range []string{"udp", "tcp"} {
		if r := ask(t, network, addr, question("v6.example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s over [::1]: %v", network, r)
		}
	}
}

func TestBindErrorsSayWhatToDo(t *testing.T) {
	denied := bindError("0.0.0.0:53", &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EACCES)})
	if !errors.Is(denied, syscall.EACCES) || !strings.Contains(denied.Error(), "--listen 127.0.0.1:5353") ||
		!strings.Contains(denied.Error(), "setcap cap_net_bind_service") {
		t.Errorf("permission error: %v", denied)
	}
	busy := bindError("127.0.0.1:53", &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)})
	if !strings.Contains(busy.Error(), "127.0.0.1:53") || !strings.Contains(busy.Error(), "another DNS server") {
		t.Errorf("busy error: %v", busy)
	}
}

func TestInflightCapAnswersSERVFAILAtOnce(t *testing.T) {
	up, arrived, unblock := heldUpstream(t, "slow.example.test.")
	s, addr := startProxy(t, func(c *Config) {
		c.MaxInflight = 1
		c.Timeout, c.Deadline = 10*time.Second, 10*time.Second // the held query must not time out
	}, up.Addr)
	// Warm the cache with one name while the slot is free.
	ask(t, "udp", addr, question("warm.example.test.", dns.TypeA))
	done := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Timeout: 5 * time.Second}
		r, _, _ := c.Exchange(question("slow.example.test.", dns.TypeA), addr)
		done <- r
	}()
	<-arrived
	if r := ask(t, "udp", addr, question("other.example.test.", dns.TypeA)); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("with the only slot taken: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, "udp", addr, question("warm.example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Errorf("a cache hit was refused a slot it does not need: %v", r)
	}
	unblock()
	if r := <-done; r == nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("the slow query: %v", r)
	}
	if got := s.Stats().Overloaded; got != 1 {
		t.Errorf("Overloaded = %d, want 1", got)
	}
}

// stuckWriter is a client that does not read: its answer's write waits
// until release is closed.
type stuckWriter struct {
	*recorder
	writing chan struct{} // closed when the write starts
	release chan struct{}
}

func (w *stuckWriter) Write(b []byte) (int, error) {
	close(w.writing)
	<-w.release
	return w.recorder.Write(b)
}

func (w *stuckWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// A query whose client does not take its answer gives its in-flight slot
// back before the write: the slots are for time spent on upstreams.
func TestInflightSlotFreeWhileWriting(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	s, _ := startProxy(t, func(c *Config) { c.MaxInflight = 1 }, up.Addr)
	stuck := &stuckWriter{recorder: newRecorder(), writing: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() { defer close(done); s.ServeDNS(stuck, question("stuck.example.test.", dns.TypeA)) }()
	<-stuck.writing
	w := newRecorder()
	s.ServeDNS(w, question("next.example.test.", dns.TypeA))
	close(stuck.release)
	<-done
	r := new(dns.Msg)
	if err := r.Unpack(w.out); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("while another answer waited on its client: %v %v, want NOERROR", r, err)
	}
	if got := s.Stats().Overloaded; got != 0 {
		t.Errorf("Overloaded = %d, want 0", got)
	}
}

func TestOddQueries(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	notify := question("example.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	badVers := question("example.test.", dns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	for _, tt := range []struct {
		name  string
		m     *dns.Msg
		rcode int
	}{
		{"NOTIFY is not forwarded", notify, dns.RcodeNotImplemented},
		{"EDNS version 1 gets BADVERS", badVers, dns.RcodeBadVers},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := ask(t, "udp", addr, tt.m); r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
		})
	}
	if up.Queries() != 0 {
		t.Errorf("upstream saw %d NOTIFY or BADVERS queries, want none", up.Queries())
	}
	padded := question("padded.example.test.", dns.TypeA)
	padded.SetEdns0(1232, false)
	padded.IsEdns0().Option = append(padded.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 1000)})
	if r := ask(t, "udp", addr, padded); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("a 1000-byte padded query over UDP: %v", r)
	}
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "."
	html := `<img\032src=x\032onerror=alert(1)>.example.test.`
	for _, name := range []string{long, html} {
		m := question(name, dns.TypeA)
		if r := ask(t, "udp", addr, m); r.Rcode != dns.RcodeSuccess || !sameWire(r.Question[0].Name, name) {
			t.Errorf("%.30s...: %v", name, r)
		}
	}
}

func TestQueryLog(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	events := dnstest.NewLog()
	_, addr := startProxy(t, func(c *Config) {
		c.LogQueries = true
		c.Logger = events.Logger()
	}, up.Addr)
	ask(t, "udp", addr, question("q.example.test.", dns.TypeAAAA))
	ask(t, "udp", addr, question("q.example.test.", dns.TypeAAAA))
	for _, cached := range []string{"cached=false", "cached=true"} {
		line := events.Wait(t, "query")
		for _, want := range []string{"query", "client=127.0.0.1", "name=q.example.test.", "qtype=AAAA", "rcode=NOERROR", cached, "duration_ms="} {
			if !strings.Contains(line, want) {
				t.Errorf("query line %q lacks %q", line, want)
			}
		}
		if strings.Contains(line, " duration=") {
			t.Errorf("query line %q has duration besides duration_ms", line)
		}
	}
}

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	dead := dnstest.DeadAddr(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // the upstream above stays
	for _, strategy := range []string{"failover", "parallel", "random"} {
		s, err := New(Config{Listen: []string{"127.0.0.1:0", "127.0.0.1:0"}, Strategy: strategy,
			Upstreams: []Upstream{{Net: "udp", Addr: dead}, {Net: "tcp", Addr: good.Addr}},
			ACL:       loopbackACL, Cache: CacheConfig{Size: 10, MaxTTL: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		addr := s.Addrs()[0].String()
		ask(t, "udp", addr, question("x.example.test.", dns.TypeA)) // marks dead down: a probe runs
		tcp, err := net.Dial("tcp", s.Addrs()[1].String())          // an open, idle TCP client
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown: %v", strategy, err)
		}
		cancel()
		tcp.Close()
	}
}

// sameWire compares names as they go on the wire, where \032 and "\ " are
// the same byte.
func sameWire(a, b string) bool {
	var pa, pb [256]byte
	na, erra := dns.PackDomainName(a, pa[:], 0, nil, false)
	nb, errb := dns.PackDomainName(b, pb[:], 0, nil, false)
	return erra == nil && errb == nil && string(pa[:na]) == string(pb[:nb])
}

// countingRecorder counts what the proxy reports.
type countingRecorder struct {
	mu      sync.Mutex
	answers map[string]int // "proto rcode cached"
	tries   map[string]int // "upstream ok|error"
}

func (r *countingRecorder) Answered(proto string, rcode int, cached bool, _ time.Time, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[fmt.Sprintf("%s %s %v", proto, dns.RcodeToString[rcode], cached)]++
}

// snapshot copies the counts, under the lock the counting takes.
func (r *countingRecorder) snapshot() (answers, tries map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.answers), maps.Clone(r.tries)
}

func (r *countingRecorder) Tried(upstream string, d time.Duration, _ int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries[fmt.Sprintf("%s %v", upstream, err == nil)]++
}

func TestRecorderAndUpstreamState(t *testing.T) {
	dead := dnstest.DeadAddr(t)
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	rec := &countingRecorder{answers: map[string]int{}, tries: map[string]int{}}
	events := dnstest.NewLog()
	s, addr := startProxy(t, func(c *Config) {
		c.Recorder = rec
		c.HealthInterval = time.Hour
		c.Logger = events.Logger()
	}, dead, good.Addr)
	ask(t, "udp", addr, question("a.example.test.", dns.TypeA))
	ask(t, "tcp", addr, question("a.example.test.", dns.TypeA))
	events.Wait(t, "upstream down") // the dead one's health probe failed
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.answers["udp NOERROR false"] != 1 || rec.answers["tcp NOERROR true"] != 1 {
		t.Errorf("answers %v", rec.answers)
	}
	if rec.tries[dead+" false"] != 1 || rec.tries[good.Addr+" true"] != 1 {
		t.Errorf("tries %v", rec.tries)
	}
	st := s.Upstreams()
	if len(st) != 2 || !st[0].Down || st[1].Down || st[1].Upstream != good.Addr {
		t.Errorf("upstream state %+v", st)
	}
}
