package proxy

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/upstream"
)

// answerAs answers with n A records, 192.0.2.1 onwards, TTL 300, and an
// OPT record (1232, the query's DO bit) if the query had one.
func answerAs(w dns.ResponseWriter, r *dns.Msg, n int) {
	m := new(dns.Msg).SetReply(r)
	for i := range n {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A: net.IPv4(192, 0, 2, byte(i+1))})
	}
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(1232, o.Do())
	}
	w.WriteMsg(m)
}

// answerRcode answers with rcode, and a SOA in authority when soa is set.
func answerRcode(rcode int, soa *dns.SOA) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, rcode)
		if soa != nil {
			m.Ns = append(m.Ns, soa)
		}
		w.WriteMsg(m)
	}
}

func testSOA(ttl, minttl uint32) *dns.SOA {
	return &dns.SOA{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns: "ns.example.test.", Mbox: "root.example.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: minttl}
}

// recordingObserver keeps every failure it is handed.
type recordingObserver struct {
	mu   sync.Mutex
	seen []Failure
}

func (o *recordingObserver) Observe(f Failure) {
	o.mu.Lock()
	o.seen = append(o.seen, f)
	o.mu.Unlock()
}

func (o *recordingObserver) failures() []Failure {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Failure(nil), o.seen...)
}

var loopbackACL = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// startProxy starts a Server on 127.0.0.1:0 in front of the given upstream
// addresses; mod may adjust the config. It returns the server and its address.
func startProxy(t testing.TB, mod func(*Config), upstreams ...string) (*Server, string) {
	t.Helper()
	cfg := Config{
		Listen:         []string{"127.0.0.1:0"},
		Timeout:        time.Second,
		Deadline:       3 * time.Second,
		FailoverRcodes: []int{dns.RcodeServerFailure, dns.RcodeRefused},
		ACL:            loopbackACL,
		Cache:          CacheConfig{Size: 1000, MaxTTL: 24 * time.Hour, NegativeMaxTTL: time.Hour, ServfailTTL: 5 * time.Second},
	}
	for _, u := range upstreams {
		cfg.Upstreams = append(cfg.Upstreams, Upstream{Net: "udp", Addr: u})
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, s.Addrs()[0].String()
}

// ask asks addr over net ("udp" or "tcp") and fails the test on error.
func ask(t testing.TB, net, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: net, Timeout: 5 * time.Second, UDPSize: 4096}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s over %s: %v", m.Question[0].Name, net, err)
	}
	return r
}

func question(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

// heldUpstream answers A queries, but holds every query for the name held
// until unblock is called; arrived receives when one such query comes in.
// unblock also runs in a cleanup before the upstream's own, so a t.Fatal
// cannot leave the upstream's shutdown waiting.
func heldUpstream(t testing.TB, held string) (up *dnstest.Server, arrived <-chan struct{}, unblock func()) {
	t.Helper()
	in := make(chan struct{}, 1)
	release := make(chan struct{})
	up = dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Question[0].Name == held {
			select {
			case in <- struct{}{}:
			default:
			}
			<-release
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	unblock = sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	return up, in, unblock
}

// gatedUpstream holds the query for each of names until its release is
// called; arrived receives each such query's name as it comes in. Every
// gate opens at cleanup, so that a failed test does not hold the upstream's
// shutdown.
func gatedUpstream(t testing.TB, names ...string) (up *dnstest.Server, arrived <-chan string, release map[string]func()) {
	t.Helper()
	in := make(chan string, len(names))
	gates := map[string]chan struct{}{}
	release = map[string]func(){}
	for _, n := range names {
		g := make(chan struct{})
		gates[n], release[n] = g, sync.OnceFunc(func() { close(g) })
	}
	up = dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if g, ok := gates[r.Question[0].Name]; ok {
			in <- r.Question[0].Name
			<-g
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	t.Cleanup(func() {
		for _, f := range release {
			f()
		}
	})
	return up, in, release
}

// dial opens a TCP connection that fails the test's reads after 5s rather
// than hang, and is closed at cleanup.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// send writes m on c, with the given ID.
func send(t testing.TB, c *dns.Conn, m *dns.Msg, id uint16) {
	t.Helper()
	m.Id = id
	if err := c.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
}

// receive reads the next answer on c and checks its ID.
func receive(t testing.TB, c *dns.Conn, id uint16) *dns.Msg {
	t.Helper()
	r, err := c.ReadMsg()
	if err != nil {
		t.Fatalf("waiting for the answer with ID %d: %v", id, err)
	}
	if r.Id != id {
		t.Fatalf("answer with ID %d came first, want %d", r.Id, id)
	}
	return r
}

// wait receives from ch, failing the test after 5s.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
	}
	var zero T
	return zero
}

func edeOf(m *dns.Msg) []dns.EDNS0_EDE { return upstream.EDE(m) }
