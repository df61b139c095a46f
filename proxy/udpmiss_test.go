package proxy

import (
	"bytes"
	"net"
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
			m := new(dns.Msg).SetReply(r)
			for i := range 40 {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
					A: net.IPv4(192, 0, 2, byte(i))})
			}
			if opt := r.IsEdns0(); opt != nil {
				m.SetEdns0(1232, opt.Do())
			}
			w.WriteMsg(m)
		default:
			m := new(dns.Msg).SetReply(r)
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
				A: net.IPv4(192, 0, 2, 1)})
			if opt := r.IsEdns0(); opt != nil {
				m.SetEdns0(1232, opt.Do())
			}
			w.WriteMsg(m)
		}
	})
	second := startUpstream(t, answerA("192.0.2.2", 60))
	server := func() (*Server, *udpPair, *udpServer) {
		s, err := New(Config{
			Upstreams: []Upstream{{Net: "udp", Addr: first.addr}, {Net: "udp", Addr: second.addr}},
			ACL:       loopbackACL,
			Timeout:   300 * time.Millisecond,
			Deadline:  3 * time.Second,
			Cache:     CacheConfig{Size: 100, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.route.Load().pool.close() })
		p := newUDPPair(t)
		return s, p, newUDPServer(s, p.proxy)
	}
	fastS, fastP, fastU := server()
	_, fullP, fullU := server()

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
		{"NXDOMAIN, EDNS0", withEDNS(question("nx.edns.example.test.", dns.TypeA), 1232, false)},
		{"SERVFAIL: the next upstream", question("fail.example.test.", dns.TypeA)},
		{"truncated: over TCP", withEDNS(question("tc.example.test.", dns.TypeA), 1232, false)},
		{"too big for the client: truncated", question("big.example.test.", dns.TypeA)},
		{"no answer: the next upstream", question("slow.example.test.", dns.TypeA)}, // last: marks the first down
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Id = 0xCAFE
			b := pack(t, tt.m)
			sc := &udpScratch{}
			if fastS.serveUDPHit(fastP.proxy, b, fastP.from, sc) != udpMiss || !fastS.startMiss(fastU, b, fastP.from, sc) {
				t.Fatal("not taken by the fast miss path")
			}
			fast := fastP.read(t)
			fullU.serve(udpJob{pkt: b, from: fullP.from})
			full := fullP.read(t)
			if !bytes.Equal(fast, full) {
				t.Errorf("fast miss path wrote\n%x\nthe full path\n%x", fast, full)
			}
			r := new(dns.Msg)
			if r.Unpack(fast) != nil || r.Id != 0xCAFE || r.Question[0].Name != tt.m.Question[0].Name {
				t.Errorf("answer %v: want ID 0xCAFE and the question as asked", r)
			}
			if strings.HasPrefix(tt.m.Question[0].Name, "tc.") && len(r.Answer) != 40 {
				t.Errorf("truncated answer not retried over TCP: %d records, want 40", len(r.Answer))
			}
		})
	}
	fastU.workers.Wait() // every fast miss finished
	if st := fastS.Stats(); st.Queries != 12 || st.CacheMisses != 12 {
		t.Errorf("stats %+v: want 12 queries, 12 misses", st)
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
	s, err := New(Config{Upstreams: []Upstream{{Net: "udp", Addr: up.addr}}, ACL: loopbackACL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.route.Load().pool.close() })
	p := newUDPPair(t)
	u := newUDPServer(s, p.proxy)
	sc := &udpScratch{} // one reader: one slot
	const n = 2*muxUses + 10
	for i := range n {
		b := pack(t, question("q"+strconv.Itoa(i)+".example.test.", dns.TypeA))
		if s.serveUDPHit(p.proxy, b, p.from, sc) != udpMiss || !s.startMiss(u, b, p.from, sc) {
			t.Fatal("not taken by the fast miss path")
		}
		if r := new(dns.Msg); r.Unpack(p.read(t)) != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("query %d answered %v", i, r)
		}
	}
	u.workers.Wait()
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
