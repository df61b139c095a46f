package proxy

import (
	"bytes"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestFastMissAnswersAsTheFullPathDoes: a plain UDP query nothing is cached
// for is sent upstream by the reader that read it (startMiss), and the
// client gets, byte for byte, what the full path writes: for plain answers
// finished by the socket's responder, and for those it hands on (a timeout,
// a failover rcode, a truncated answer, one too big for the client).
func TestFastMissAnswersAsTheFullPathDoes(t *testing.T) {
	first := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		udp := w.RemoteAddr().Network() == "udp"
		switch name := strings.ToLower(q.Name); {
		case strings.HasPrefix(name, "slow."):
			return // never answers: the try times out, the second upstream answers
		case strings.HasPrefix(name, "fail."):
			answerRcode(dns.RcodeServerFailure, nil)(w, r)
		case strings.HasPrefix(name, "nx."):
			m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
			m.Ns = append(m.Ns, testSOA(60, 30))
			if opt := r.IsEdns0(); opt != nil {
				m.SetEdns0(1232, opt.Do())
			}
			w.WriteMsg(m)
		case strings.HasPrefix(name, "tc.") && udp:
			m := new(dns.Msg).SetReply(r)
			m.Truncated = true
			w.WriteMsg(m)
		case strings.HasPrefix(name, "big.") || strings.HasPrefix(name, "tc."):
			answerAs(w, r, 40)
		default:
			answerAs(w, r, 1)
		}
	})
	second := startUpstream(t, answerA("192.0.2.2", 60))
	type side struct {
		*missRig
		obs *recordingObserver
		rec *countingRecorder
	}
	server := func() side {
		obs := &recordingObserver{}
		rec := &countingRecorder{answers: map[string]int{}, tries: map[string]int{}}
		return side{newMissRig(t, Config{
			Upstreams:      []Upstream{{Net: "udp", Addr: first.addr}, {Net: "udp", Addr: second.addr}},
			Timeout:        time.Second, // "slow." waits it out, twice
			Deadline:       5 * time.Second,
			Cache:          CacheConfig{Size: 100, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
			FailoverRcodes: []int{dns.RcodeServerFailure, dns.RcodeRefused},
			Observer:       obs,
			Recorder:       rec,
			// explained failures (EDNS0 clients) leave the fast path
			Annotator: &fakeAnnotator{code: dns.ExtendedErrorCodeOther, text: "nxray: why", known: true},
		}), obs, rec}
	}
	fast, full := server(), server()

	noRD := question("nord.example.test.", dns.TypeA)
	noRD.RecursionDesired = false
	cd := question("cd.example.test.", dns.TypeA)
	cd.CheckingDisabled = true
	for _, tt := range []struct {
		name string
		m    *dns.Msg
	}{
		{"answer", question("www.example.test.", dns.TypeA)},
		{"0x20 case", question("CaSe.ExAmple.TEST.", dns.TypeA)},
		{"EDNS0", withEDNS(question("edns.example.test.", dns.TypeA), 4096, false)},
		{"EDNS0 with DO", withEDNS(question("do.example.test.", dns.TypeA), 1232, true)},
		{"no RD", noRD},
		{"CD", cd},
		{"NXDOMAIN", question("nx.example.test.", dns.TypeA)},
		{"NXDOMAIN, 0x20 case", question("Nx.MiXed-1.example.TEST.", dns.TypeA)},
		{"NXDOMAIN, EDNS0: explained", withEDNS(question("nx.edns.example.test.", dns.TypeA), 1232, false)},
		{"SERVFAIL: the next upstream", question("fail.example.test.", dns.TypeA)},
		{"truncated: over TCP", withEDNS(question("tc.example.test.", dns.TypeA), 1232, false)},
		{"too big for the client: truncated", question("big.example.test.", dns.TypeA)},
		{"no answer: the next upstream", question("slow.example.test.", dns.TypeA)}, // last: marks the first down
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Id = 0xCAFE
			b := pack(t, tt.m)
			fast.send(t, b)
			got := fast.p.read(t)
			full.u.serve(udpJob{pkt: b, from: full.p.from})
			want := full.p.read(t)
			if !bytes.Equal(got, want) {
				t.Errorf("fast miss path wrote\n%x\nthe full path\n%x", got, want)
			}
			r := new(dns.Msg)
			if r.Unpack(got) != nil || r.Id != 0xCAFE || r.Question[0].Name != tt.m.Question[0].Name {
				t.Errorf("answer %v: want ID 0xCAFE and the question as asked", r)
			}
			if strings.HasPrefix(tt.m.Question[0].Name, "tc.") && len(r.Answer) != 40 {
				t.Errorf("truncated answer not retried over TCP: %d records, want 40", len(r.Answer))
			}
		})
	}
	fast.u.workers.Wait() // every fast miss finished
	// What the operator sees is the same too: counters, metrics, failures.
	if a, b := fast.s.Stats(), full.s.Stats(); !reflect.DeepEqual(a, b) || a.Queries != 13 || a.CacheMisses != 13 {
		t.Errorf("stats, fast miss path %+v\nfull path %+v\nwant 13 queries, 13 misses", a, b)
	}
	if !reflect.DeepEqual(fast.rec.answers, full.rec.answers) || !reflect.DeepEqual(fast.rec.tries, full.rec.tries) {
		t.Errorf("recorded, fast miss path %v %v\nfull path %v %v", fast.rec.answers, fast.rec.tries, full.rec.answers, full.rec.tries)
	}
	a, b := fast.obs.failures(), full.obs.failures()
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("observed %d failures on the fast miss path, %d on the full path, want 3", len(a), len(b))
	}
	for i := range a {
		a[i].Time, b[i].Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Errorf("observed on the fast miss path %+v\non the full path %+v", a[i], b[i])
		}
	}
}

// TestFastMissSocketsRotate: the fast miss path's shared socket gives way to
// a new one, with a new source port, every muxUses queries, so that a
// spoofer has to guess the port as well as the ID; and the old sockets'
// queries are answered all the same.
func TestFastMissSocketsRotate(t *testing.T) {
	var mu sync.Mutex
	ports := map[string]int{}
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		ports[w.RemoteAddr().String()]++
		mu.Unlock()
		answerA("192.0.2.1", 60)(w, r)
	})
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: up.addr}}}) // one reader: one slot
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

// TestFastMissLateAnswerIsNotMismatched: an answer that comes after its
// query's try timed out is dropped quietly, as the full path drops it (by
// closing the try's socket): the mismatched counter is for answers that
// match no query (spoofed, broken).
func TestFastMissLateAnswerIsNotMismatched(t *testing.T) {
	release, sent := make(chan struct{}), make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	up := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		late := strings.HasPrefix(r.Question[0].Name, "late.")
		if late {
			<-release
		}
		answerA("192.0.2.1", 60)(w, r)
		if late {
			close(sent)
		}
	})
	t.Cleanup(unblock)
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: up.addr}},
		Timeout: 500 * time.Millisecond, Deadline: 500 * time.Millisecond})
	if r := rig.ask(t, question("late.example.test.", dns.TypeA)); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("timed-out query answered %v, want SERVFAIL", r)
	}
	unblock() // the late answer goes out, on the socket the next query takes too
	<-sent
	if r := rig.ask(t, question("next.example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("next query answered %v", r)
	}
	// The socket's answers are read in order: the late one has been read.
	rig.u.workers.Wait()
	if got := rig.s.Stats().Mismatched; got != 0 {
		t.Errorf("mismatched = %d after a late answer, want 0", got)
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
// another came in between: the socket's one timer moves from try to try.
func TestFastMissTimeoutsOnOneSocket(t *testing.T) {
	// Slow upstreams, not waits for the test: slow1 is answered 300 ms
	// after it is sent, mark 600 ms after, whoever it goes to.
	delay := func(name string) {
		switch {
		case strings.HasPrefix(name, "slow"):
			time.Sleep(300 * time.Millisecond)
		case strings.HasPrefix(name, "mark"):
			time.Sleep(600 * time.Millisecond)
		}
	}
	silent := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if n := r.Question[0].Name; !strings.HasPrefix(n, "quiet") {
			delay(n)
			answerA("192.0.2.1", 60)(w, r)
		}
	})
	second := startUpstream(t, func(w dns.ResponseWriter, r *dns.Msg) {
		delay(r.Question[0].Name)
		answerA("192.0.2.2", 60)(w, r)
	})
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: silent.addr}, {Net: "udp", Addr: second.addr}},
		Timeout: time.Second, Deadline: 4 * time.Second})
	var order []string
	from := map[string]string{}
	await := func(name string) { // reads answers until name's
		for from[name] == "" {
			a := new(dns.Msg)
			if err := a.Unpack(rig.p.read(t)); err != nil || len(a.Answer) != 1 {
				t.Fatalf("answer %v %v", a, err)
			}
			from[a.Question[0].Name] = a.Answer[0].(*dns.A).A.String()
			order = append(order, a.Question[0].Name)
		}
	}
	ask := func(n string) { rig.send(t, pack(t, question(n, dns.TypeA))) }
	ask("quiet1.example.test.") // times out at T+1000 ms
	ask("slow1.example.test.")
	await("slow1.example.test.")
	ask("quiet2.example.test.") // sent at T+300, so it times out at T+1300
	await("quiet1.example.test.")
	ask("mark.example.test.") // sent at T+1000, answered at T+1600
	await("mark.example.test.")
	await("quiet2.example.test.")
	for _, n := range []string{"quiet1.example.test.", "quiet2.example.test."} {
		if got := from[n]; got != "192.0.2.2" {
			t.Errorf("%s answered by %s, want 192.0.2.2 after its try timed out", n, got)
		}
	}
	if i, j := slices.Index(order, "quiet2.example.test."), slices.Index(order, "mark.example.test."); i > j {
		t.Errorf("answers came in the order %v: quiet2 timed out after mark was answered, far past its try's end", order)
	}
}

// TestFastMissAfterARefusal: an upstream that refuses (ICMP port
// unreachable, which fails the shared socket) fails its query at once, and
// once it answers again, plain misses take the fast path again on a new
// socket.
func TestFastMissAfterARefusal(t *testing.T) {
	addr := deadAddr(t)
	rig := newMissRig(t, Config{Upstreams: []Upstream{{Net: "udp", Addr: addr}},
		Timeout: 5 * time.Second, Deadline: 5 * time.Second})
	ask := func(name string) *dns.Msg { return rig.ask(t, withEDNS(question(name, dns.TypeA), 1232, false)) }
	start := time.Now()
	r := ask("refused.example.test.")
	if ede := edeOf(r); r.Rcode != dns.RcodeServerFailure || len(ede) != 1 || !strings.Contains(ede[0].ExtraText, "refused") {
		t.Fatalf("query to a closed port answered %v, want SERVFAIL saying it was refused", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v: the query waited for its timeout", d)
	}
	startUpstreamAt(t, addr, answerA("192.0.2.1", 60)) // the upstream is back
	if r := ask("back.example.test."); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("query after the upstream came back answered %v", r)
	}
	rig.u.workers.Wait()
}

// missRig is a Server, not listening, driven as one UDP reader drives it.
type missRig struct {
	s  *Server
	p  *udpPair
	u  *udpServer
	sc *udpScratch
}

func newMissRig(t *testing.T, cfg Config) *missRig {
	t.Helper()
	cfg.ACL = loopbackACL
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.route.Load().pool.close() })
	p := newUDPPair(t)
	return &missRig{s: s, p: p, u: newUDPServer(s, p.proxy), sc: &udpScratch{}}
}

// send has the packed query b taken by the fast miss path, or fails.
func (r *missRig) send(t *testing.T, b []byte) {
	t.Helper()
	if r.s.serveUDPHit(r.p.proxy, b, r.p.from, r.sc) != udpMiss || !r.s.startMiss(r.u, b, r.p.from, r.sc) {
		t.Fatal("not taken by the fast miss path")
	}
}

// ask sends m on the fast miss path and returns the answer.
func (r *missRig) ask(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	r.send(t, pack(t, m))
	a := new(dns.Msg)
	if err := a.Unpack(r.p.read(t)); err != nil {
		t.Fatal(err)
	}
	return a
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
