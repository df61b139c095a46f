package upstream

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

// The shared UDP transport: how many queries one socket carries, in all and
// at once; timeouts, late answers, refusals and shutdown.

// oneSlot is a UDP transport to addr with a single slot, so that the
// sockets it uses follow one another.
func oneSlot(addr string, mismatched *atomic.Uint64) *udpTransport {
	t := NewUDP(context.Background(), addr, mismatched)
	t.cur = make([]*udpSock, 1)
	return t
}

func packed(t testing.TB, name string, qtype uint16) []byte {
	t.Helper()
	b, err := new(dns.Msg).SetQuestion(name, qtype).Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange asks tr for name and returns the answer, unpacked.
func exchange(t testing.TB, tr Transport, name string, timeout time.Duration) (*dns.Msg, error) {
	q := packed(t, name, dns.TypeA)
	r, err := tr.Exchange(context.Background(), q, time.Now().Add(timeout))
	if err != nil {
		return nil, err
	}
	if err := r.Unpack(); err != nil {
		t.Fatalf("answer does not unpack: %v", err)
	}
	m := r.Msg
	if m.Id != be16(q) || !strings.EqualFold(m.Question[0].Name, name) {
		t.Fatalf("answer %v to the query with ID %d for %s", m, be16(q), name)
	}
	return m, nil
}

// TestSocketsRotate: a socket gives way to a new one, with a new source
// port, every sockUses queries, so that a spoofer has to guess the port as
// well as the ID; and the old sockets' queries are answered all the same.
func TestSocketsRotate(t *testing.T) {
	var mu sync.Mutex
	ports := map[string]int{}
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		ports[w.RemoteAddr().String()]++
		mu.Unlock()
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	tr := oneSlot(up.Addr, new(atomic.Uint64))
	t.Cleanup(tr.Close)
	const n = 2*sockUses + 10
	for i := range n {
		if r, err := exchange(t, tr, "q"+strconv.Itoa(i)+".example.test.", 5*time.Second); err != nil || len(r.Answer) != 1 {
			t.Fatalf("query %d answered %v, %v", i, r, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ports) != 3 {
		t.Errorf("%d queries came from %d source ports %v, want 3 (a new one every %d)", n, len(ports), ports, sockUses)
	}
	for p, c := range ports {
		if c > sockUses {
			t.Errorf("port %s carried %d queries, more than %d", p, c, sockUses)
		}
	}
}

// TestAnswerBurst: as many answers as one socket can have queries pending,
// near the largest size nxray asks for, arriving back to back, are all
// read: none is lost to the socket's receive buffer.
func TestAnswerBurst(t *testing.T) {
	const n = sockPending
	up := batchUpstream(t, n, func(q *dns.Msg) *dns.Msg {
		r := new(dns.Msg).SetReply(q)
		for range 5 { // about 1200 bytes
			r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{strings.Repeat("x", 200)}})
		}
		return r
	})
	tr := oneSlot(up.addr, new(atomic.Uint64))
	t.Cleanup(tr.Close)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := exchange(t, tr, "b"+strconv.Itoa(i)+".example.test.", 10*time.Second)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestPendingCap: one socket carries at most sockPending queries at once,
// however many are sent before the first answer comes, so that a burst of
// their answers fits its receive buffer; the next queries go out on a new
// socket, and every query is answered.
func TestPendingCap(t *testing.T) {
	const n = 2*sockPending + 1
	if sockUses <= n {
		t.Fatalf("sockUses (%d) must exceed %d for this test to see the cap on pending queries", sockUses, n)
	}
	up := batchUpstream(t, n, func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetReply(q) })
	tr := oneSlot(up.addr, new(atomic.Uint64))
	t.Cleanup(tr.Close)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := exchange(t, tr, "p"+strconv.Itoa(i)+".example.test.", 10*time.Second)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	ports := up.ports()
	if len(ports) != 3 {
		t.Errorf("%d queries sent at once came from %d source ports %v, want 3", n, len(ports), ports)
	}
	for p, c := range ports {
		if c > sockPending {
			t.Errorf("port %s carried %d queries at once, more than %d", p, c, sockPending)
		}
	}
}

// TestTimeoutAndLateAnswer: a query with no answer gives up at its own
// deadline while others on the same socket are answered, and its answer,
// when it comes late, is dropped quietly: the mismatched counter is for
// answers that match no query (spoofed, broken).
func TestTimeoutAndLateAnswer(t *testing.T) {
	release, sent := make(chan struct{}), make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		late := strings.HasPrefix(r.Question[0].Name, "late.")
		if late {
			<-release
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
		if late {
			close(sent)
		}
	})
	t.Cleanup(unblock)
	var mismatched atomic.Uint64
	tr := oneSlot(up.Addr, &mismatched)
	t.Cleanup(tr.Close)
	start := time.Now()
	if _, err := exchange(t, tr, "late.example.test.", 300*time.Millisecond); err == nil || !isTimeout(err) {
		t.Fatalf("unanswered query: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("gave up after %v, before its deadline", d)
	}
	unblock() // the late answer goes out, to the socket the next query takes too
	<-sent
	if _, err := exchange(t, tr, "next.example.test.", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The socket's answers are read in order: the late one has been read.
	if got := mismatched.Load(); got != 0 {
		t.Errorf("mismatched = %d after a late answer, want 0", got)
	}
}

// TestMismatchedAnswersDropped: answers with another ID or question are
// counted and dropped, and the query waits on for its own.
func TestMismatchedAnswersDropped(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		wrongID := new(dns.Msg).SetReply(r)
		wrongID.Id++
		w.WriteMsg(wrongID)
		other := new(dns.Msg).SetReply(r)
		other.Question[0].Name = "other.example.test."
		w.WriteMsg(other)
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	var mismatched atomic.Uint64
	tr := oneSlot(up.Addr, &mismatched)
	t.Cleanup(tr.Close)
	if r, err := exchange(t, tr, "www.example.test.", 5*time.Second); err != nil || len(r.Answer) != 1 {
		t.Fatalf("answered %v, %v", r, err)
	}
	if got := mismatched.Load(); got != 2 {
		t.Errorf("mismatched = %d, want 2", got)
	}
}

// TestBrokenAnswerDropped: an answer with the query's ID and question that
// does not read (a record cut short) is counted and dropped, and the query
// waits on for its real answer, over UDP and TCP, as a stub resolver does:
// a broken or forged packet must not fail the try.
func TestBrokenAnswerDropped(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		good := new(dns.Msg).SetReply(r)
		rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
		good.Answer = []dns.RR{rr}
		b, _ := good.Pack()
		w.Write(b[:len(b)-2]) // the A record's data cut short
		w.Write(b)
	})
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			var mismatched atomic.Uint64
			var tr Transport = oneSlot(up.Addr, &mismatched)
			if network == "tcp" {
				tr = NewTCP(up.Addr, &mismatched)
			}
			t.Cleanup(tr.Close)
			if r, err := exchange(t, tr, "www.example.test.", 5*time.Second); err != nil || len(r.Answer) != 1 {
				t.Fatalf("answered %v, %v; want the whole answer after the broken one", r, err)
			}
			if got := mismatched.Load(); got != 1 {
				t.Errorf("mismatched = %d, want 1", got)
			}
		})
	}
}

// TestClosedTransportCarriesTries: a transport closed by a reload still
// carries the tries of the queries its pool had (the next upstream after a
// timeout, a retry), on sockets of their own that close when done.
func TestClosedTransportCarriesTries(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	tr := oneSlot(up.Addr, new(atomic.Uint64))
	tr.Close()
	for i := range 3 {
		if r, err := exchange(t, tr, "after"+strconv.Itoa(i)+".example.test.", 5*time.Second); err != nil || len(r.Answer) != 1 {
			t.Fatalf("try %d on a closed transport: %v, %v", i, r, err)
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.cur[0] != nil {
		t.Error("a closed transport put a socket in its slot")
	}
}

// TestRefusalFailsAtOnce: an upstream that refuses (ICMP port unreachable,
// which fails the shared socket) fails the query at once, not at its
// deadline, and once it answers again a new socket carries the next.
func TestRefusalFailsAtOnce(t *testing.T) {
	addr := dnstest.DeadAddr(t)
	tr := oneSlot(addr, new(atomic.Uint64))
	t.Cleanup(tr.Close)
	start := time.Now()
	if _, err := exchange(t, tr, "refused.example.test.", 5*time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("query to a closed port: %v, want a refusal", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v: the query waited for its deadline", d)
	}
	dnstest.StartAt(t, addr, dnstest.AnswerA("192.0.2.1", 60))
	if _, err := exchange(t, tr, "back.example.test.", 5*time.Second); err != nil {
		t.Fatalf("after the upstream came back: %v", err)
	}
}
