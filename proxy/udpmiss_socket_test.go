package proxy

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// One shared socket of the fast miss path (mux.go): how many queries it
// carries, in all and at once, and its one timer for all of them.

// TestFastMissSocketsRotate: the fast miss path's shared socket gives way to
// a new one, with a new source port, every muxUses queries, so that a
// spoofer has to guess the port as well as the ID; and the old sockets'
// queries are answered all the same.
func TestFastMissSocketsRotate(t *testing.T) {
	var mu sync.Mutex
	ports := map[string]int{}
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		ports[w.RemoteAddr().String()]++
		mu.Unlock()
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}}}) // one reader: one slot
	const n = 2*muxUses + 10
	for i := range n {
		if r := rig.ask(t, question("q"+strconv.Itoa(i)+".example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("query %d answered %v", i, r)
		}
	}
	rig.u.workers.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(ports) != 3 {
		t.Errorf("%d queries came from %d source ports %v, want 3 (a new one every %d)", n, len(ports), ports, muxUses)
	}
	for p, c := range ports {
		if c > muxUses {
			t.Errorf("port %s carried %d queries, more than %d", p, c, muxUses)
		}
	}
}

// TestFastMissAnswerBurst: as many answers as one shared socket can have
// queries pending, near the largest size nxray asks for, arriving back to
// back, are all read: none is lost to the socket's receive buffer.
func TestFastMissAnswerBurst(t *testing.T) {
	const n = muxPending
	up := batchUpstream(t, n, func(q *dns.Msg) *dns.Msg {
		r := new(dns.Msg).SetReply(q)
		for range 5 { // about 1200 bytes
			r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{strings.Repeat("x", 200)}})
		}
		return r.SetEdns0(1232, false)
	})
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: up.addr}},
		Timeout: 5 * time.Second, Deadline: 5 * time.Second})
	p := rig.p
	answers := make(chan int, n)
	go func() {
		buf := make([]byte, 2048)
		p.client.SetReadDeadline(time.Now().Add(10 * time.Second)) // all of them
		for range n {
			k, err := p.client.Read(buf)
			r := new(dns.Msg)
			if err != nil || r.Unpack(buf[:k]) != nil {
				answers <- -1
				continue
			}
			answers <- r.Rcode
		}
	}()
	for i := range n {
		rig.send(t, pack(t, withEDNS(question("b"+strconv.Itoa(i)+".example.test.", dns.TypeTXT), 1232, false)))
	}
	ok := 0
	for range n {
		if <-answers == dns.RcodeSuccess {
			ok++
		}
	}
	rig.u.workers.Wait()
	if ok != n || rig.s.Stats().NoUpstream != 0 {
		t.Errorf("%d of %d answered NOERROR, %d queries got no upstream answer", ok, n, rig.s.Stats().NoUpstream)
	}
}

// TestFastMissPendingCap: one shared socket carries at most muxPending
// queries at once, however many are sent before the first answer comes, so
// that a burst of their answers fits its receive buffer; the next queries
// go out on a new socket, and every query is answered.
func TestFastMissPendingCap(t *testing.T) {
	const n = 2*muxPending + 1
	if muxUses <= n {
		t.Fatalf("muxUses (%d) must exceed %d for this test to see the cap on pending queries", muxUses, n)
	}
	up := batchUpstream(t, n, func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetReply(q) })
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: up.addr}},
		Timeout: 5 * time.Second, Deadline: 5 * time.Second})
	for i := range n {
		rig.send(t, pack(t, question("p"+strconv.Itoa(i)+".example.test.", dns.TypeA)))
	}
	for i := range n {
		a := new(dns.Msg)
		if err := a.Unpack(rig.p.read(t)); err != nil || a.Rcode != dns.RcodeSuccess {
			t.Fatalf("answer %d: %v %v", i, a, err)
		}
	}
	ports := up.ports()
	if len(ports) != 3 {
		t.Errorf("%d queries sent at once came from %d source ports %v, want 3", n, len(ports), ports)
	}
	for p, c := range ports {
		if c > muxPending {
			t.Errorf("port %s carried %d queries at once, more than %d", p, c, muxPending)
		}
	}
}

// TestFastMissTimeoutsOnOneSocket: queries that get no answer on one
// shared socket each time out at the end of their own try and go on to the
// next upstream, though they were sent at different times and an answer to
// another came in between: the socket's one timer moves from try to try,
// and neither a later query nor a later try puts it off.
//
// The test forces the order, not the upstreams' speed: the first upstream
// never answers quiet1 and quiet2, and holds mark until quiet2 has been
// answered. Tries end a gap apart, and every step has that long: quiet1's
// retry before mark is sent, and quiet2's before mark's try ends.
func TestFastMissTimeoutsOnOneSocket(t *testing.T) {
	const timeout, gap = 2 * time.Second, time.Second
	var mu sync.Mutex
	var arrived []string // "upstream name", in the order the upstreams got them
	arrive := func(up, name string) {
		mu.Lock()
		arrived = append(arrived, up+" "+name)
		mu.Unlock()
	}
	markIn, markGo := make(chan struct{}, 1), make(chan struct{})
	releaseMark := sync.OnceFunc(func() { close(markGo) })
	first := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		switch n := r.Question[0].Name; {
		case strings.HasPrefix(n, "quiet"):
			return // never answered: the try times out
		case n == "mark.example.test.":
			arrive("first", n)
			select {
			case markIn <- struct{}{}:
			default:
			}
			<-markGo
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	})
	t.Cleanup(releaseMark) // before the upstream's cleanup, which waits for its handlers
	second := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		arrive("second", r.Question[0].Name)
		dnstest.AnswerA("192.0.2.2", 60)(w, r)
	})
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: first.Addr}, {Net: "udp", Addr: second.Addr}},
		Timeout: timeout, Deadline: 2 * timeout})
	from := map[string]string{}
	await := func(name string) { // reads answers until name's
		t.Helper()
		for from[name] == "" {
			a := new(dns.Msg)
			if err := a.Unpack(rig.p.read(t)); err != nil || len(a.Answer) != 1 {
				t.Fatalf("answer %v %v", a, err)
			}
			from[a.Question[0].Name] = a.Answer[0].(*dns.A).A.String()
		}
	}
	ask := func(n string) { rig.send(t, pack(t, question(n, dns.TypeA))) }

	ask("quiet1.example.test.") // its try ends at T+timeout
	ask("other.example.test.")
	await("other.example.test.") // answered while quiet1 waits
	// Not a wait for anything: the tries must end a gap apart for the
	// timer to move between them.
	time.Sleep(gap)
	ask("quiet2.example.test.")   // its try ends at T+timeout+gap
	await("quiet1.example.test.") // at T+timeout, by the second upstream
	ask("mark.example.test.")     // while the timer waits for quiet2; its try ends at T+2*timeout
	wait(t, markIn, "mark at the first upstream")
	await("quiet2.example.test.") // with mark still held
	releaseMark()
	await("mark.example.test.")

	for n, want := range map[string]string{"quiet1.example.test.": "192.0.2.2", "quiet2.example.test.": "192.0.2.2",
		"mark.example.test.": "192.0.2.1"} {
		if got := from[n]; got != want {
			t.Errorf("%s answered by %s, want %s", n, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"second quiet1.example.test.", "first mark.example.test.", "second quiet2.example.test."}
	if got := slices.DeleteFunc(slices.Clone(arrived), func(s string) bool { return !slices.Contains(want, s) }); !slices.Equal(got, want) {
		t.Errorf("the upstreams got %v, want the retries of quiet1 and of quiet2 on either side of mark: "+
			"each try timed out at its own end", arrived)
	}
}

// batch is an upstream on loopback that answers its queries in one burst.
type batch struct {
	addr string
	done chan struct{}
	from map[string]int // queries per source port
}

// batchUpstream starts a batch that reads n queries, then answers them all,
// back to back, with what answer makes of each.
func batchUpstream(t *testing.T, n int, answer func(q *dns.Msg) *dns.Msg) *batch {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &batch{addr: pc.LocalAddr().String(), done: make(chan struct{}), from: map[string]int{}}
	go func() {
		defer close(b.done)
		type query struct {
			m    *dns.Msg
			from net.Addr
		}
		var qs []query
		buf := make([]byte, 4096)
		for len(qs) < n {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:k]) == nil {
				qs = append(qs, query{m, from})
				b.from[from.String()]++
			}
		}
		for _, q := range qs {
			w, _ := answer(q.m).Pack()
			pc.WriteTo(w, q.from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-b.done })
	return b
}

// ports waits until b has answered and returns how many queries came from
// each source port.
func (b *batch) ports() map[string]int {
	<-b.done
	return b.from
}
