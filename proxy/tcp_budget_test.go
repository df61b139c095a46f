package proxy

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// bigTXTAnswer is the number of 250-byte strings bigTXT answers with in
// these tests: about 46 KB.
const bigTXTAnswer = 184

// TestTCPSlowReadersBounded: connections that pipeline queries for a large
// cached answer and never read cost nxray about its per-connection budget
// each, not an answer per query in flight; and other clients are answered
// over TCP and UDP meanwhile.
func TestTCPSlowReadersBounded(t *testing.T) {
	ecs := question("big.example.test.", dns.TypeTXT)
	ecs.SetEdns0(1232, false)
	ecs.IsEdns0().Option = append(ecs.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
		SourceNetmask: 24, Address: net.IPv4(192, 0, 2, 0).To4()})
	for _, tt := range []struct {
		name string
		q    *dns.Msg
	}{
		{"plain queries", question("big.example.test.", dns.TypeTXT)},
		{"queries the fast parser leaves to miekg/dns", ecs},
	} {
		t.Run(tt.name, func(t *testing.T) { slowReaders(t, tt.q) })
	}
}

// slowReaders opens connections that each ask q, whose answer is large,
// many times over and never read, and checks what nxray holds for them.
func slowReaders(t *testing.T, q *dns.Msg) {
	const (
		conns   = 200
		queries = 1000 // per connection: 46 MB of answers, more than the kernel's buffers take
		// Bounded, a connection costs nxray one answer and a few buffers,
		// about 60 KB: 12 MB in all. Holding an answer for each of 64
		// queries in flight, it costs 3 MB: 590 MB in all.
		bound = 40 << 20
	)
	up := dnstest.Start(t, bigTXT(bigTXTAnswer))
	s, addr := startProxy(t, func(c *Config) {
		c.TCPMaxPerClient = conns + 1
		c.TCPIdleTimeout = 5 * time.Minute // no write gives up on its client, however slow the machine
	}, up.Addr)
	if r := ask(t, "tcp", addr, q.Copy()); len(r.Answer) != bigTXTAnswer {
		t.Fatalf("warming the cache: %d records, want %d", len(r.Answer), bigTXTAnswer)
	}
	var msgs [][]byte
	for i := range queries {
		m := q.Copy()
		m.Id = uint16(i)
		msgs = append(msgs, pack(t, m))
	}
	batch := framed(msgs...)
	base := heapInuse()
	for range conns {
		c := dial(t, addr) // closed at cleanup, before the proxy shuts down
		if _, err := c.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	heldBack(t, conns)
	heap := heapInuse() - min(base, heapInuse())
	made := s.Stats().Queries - 1
	t.Logf("%d connections that do not read: %d answers made, %.1f MB of heap held",
		conns, made, float64(heap)/(1<<20))
	if made >= conns*queries {
		t.Fatalf("every query answered: the kernel took all %d answers, so nothing was held", made)
	}
	if heap > bound {
		t.Errorf("%d connections that do not read hold %d MB of heap, want at most %d MB", conns, heap>>20, bound>>20)
	}
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	if r := queryFrom(t, "tcp", other, addr, q.Copy()); len(r.Answer) != bigTXTAnswer {
		t.Errorf("another client over TCP: %d records, want %d", len(r.Answer), bigTXTAnswer)
	}
	if r := queryFrom(t, "udp", &net.UDPAddr{IP: other.IP}, addr, question("a.example.test.", dns.TypeTXT)); !r.Truncated {
		t.Errorf("another client over UDP: %v, want a truncated answer", r)
	}
}

// TestTCPFastClientPipelining: a client that reads as it asks gets every
// answer of hundreds pipelined on one connection: large cached ones, which
// the budget admits one or two at a time, small cached ones, and misses.
func TestTCPFastClientPipelining(t *testing.T) {
	big := bigTXT(bigTXTAnswer)
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Question[0].Qtype == dns.TypeTXT {
			big(w, r)
			return
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	_, addr := startProxy(t, nil, up.Addr)
	ask(t, "tcp", addr, question("big.example.test.", dns.TypeTXT))
	const n = 600
	var msgs [][]byte
	for i := range n {
		var m *dns.Msg
		switch i % 3 {
		case 0:
			m = question("big.example.test.", dns.TypeTXT)
		case 1:
			m = question("small.example.test.", dns.TypeA)
		default:
			m = question(fmt.Sprintf("miss%d.example.test.", i), dns.TypeA)
		}
		m.Id = uint16(i)
		msgs = append(msgs, pack(t, m))
	}
	conn := dial(t, addr)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() { _, err := conn.Write(framed(msgs...)); done <- err }()
	c := &dns.Conn{Conn: conn}
	seen := make(map[uint16]bool, n)
	for range n {
		r, err := c.ReadMsg()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		if seen[r.Id] {
			t.Fatalf("ID %d answered twice", r.Id)
		}
		seen[r.Id] = true
		if want := map[int]int{0: bigTXTAnswer, 1: 1, 2: 1}[int(r.Id)%3]; len(r.Answer) != want {
			t.Errorf("ID %d: %d records, want %d", r.Id, len(r.Answer), want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// heapInuse is the heap in use once garbage is collected.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// heldBack waits until the server has done all it will for conns
// connections that do not read: each one's writer waits in the kernel for
// its client, and its reader waits for room in the budget that only the
// writer can make. It looks at the goroutines' stacks, as goleak does,
// until it finds that, and fails the test after two minutes.
func heldBack(t testing.TB, conns int) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for n == len(buf) {
			buf = make([]byte, 2*len(buf))
			n = runtime.Stack(buf, true)
		}
		// A connection's reader waits for room, or is the writer itself:
		// it answers cache hits, and writes when no one else is.
		readers, writers := 0, 0
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			switch {
			case strings.Contains(g, " [sync.Cond.Wait") && strings.Contains(g, "proxy.(*tcpConn).admit("):
				readers++
			case strings.Contains(g, " [IO wait") && strings.Contains(g, "proxy.(*tcpConn).write("):
				writers++
				if strings.Contains(g, "proxy.(*tcpConn).serve(") {
					readers++
				}
			}
		}
		if readers >= conns && writers >= conns {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("after two minutes, %d readers wait for room or write and %d writers wait for their client, want %d of each",
				readers, writers, conns)
		}
	}
}

// queryFrom asks addr over network from the local address local.
func queryFrom(t testing.TB, network string, local net.Addr, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s over %s from %s: %v", m.Question[0].Name, network, local, err)
	}
	return r
}
