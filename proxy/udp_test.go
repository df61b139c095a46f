package proxy

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnscache"
	"github.com/nxray/nxray/internal/dnstest"
)

// udpPair is a proxy-side socket and a client socket on loopback, to drive
// the request path as a UDP reader does, without a running listener.
type udpPair struct {
	proxy, client *net.UDPConn
	from          netip.AddrPort // the client's address, as the proxy sees it
}

func newUDPPair(t testing.TB) *udpPair {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p := &udpPair{proxy: listen(), client: listen()}
	p.from = p.client.LocalAddr().(*net.UDPAddr).AddrPort()
	return p
}

// read returns the next datagram the client got.
func (p *udpPair) read(t testing.TB) []byte {
	t.Helper()
	buf := make([]byte, 65535)
	p.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.client.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return buf[:n]
}

// udpRig is a Server, not listening, whose packets are handled as one
// UDP reader handles them, answering a client socket on loopback.
type udpRig struct {
	s *Server
	p *udpPair
	u *udpServer
	q query
}

func newUDPRig(t testing.TB, s *Server) *udpRig {
	t.Helper()
	p := newUDPPair(t)
	u, err := newUDPServer(s, p.proxy, forcePktinfo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.shutdown(context.Background()) })
	return &udpRig{s: s, p: p, u: u}
}

// handle takes the packet b from the client as a reader does, and says
// whether it went upstream.
func (r *udpRig) handle(b []byte) bool { return r.u.handle(&r.q, b, r.p.from, r.dst()) }

// dst is the address the rig's queries come to, as pktinfo reads it.
func (r *udpRig) dst() netip.Addr {
	if !r.u.pktinfo {
		return netip.Addr{}
	}
	return r.p.proxy.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
}

// hit says whether handle answered b from the cache.
func (r *udpRig) hit(b []byte) bool {
	before := r.s.Stats().CacheHits
	return !r.handle(b) && r.s.Stats().CacheHits == before+1
}

// handleUnpacked is handle with b unpacked first, as a query that
// dnscache.ParseQuery does not read is.
func (r *udpRig) handleUnpacked(b []byte) bool {
	q := &query{udp: r.u, proto: "udp", to: r.p.from, dst: r.dst(), client: r.p.from.Addr(), pkt: b, start: r.s.cfg.Now(), rt: r.s.route.Load()}
	if !q.read(r.s.cfg.MaxUDPSize) {
		return false
	}
	if q.plain {
		req := new(dns.Msg)
		if err := req.Unpack(b); err != nil {
			panic(err)
		}
		q.plain = false
		q.setMsg(req, r.s.cfg.MaxUDPSize)
	}
	if !r.s.admit(q) || r.s.fromCache(q) {
		return false
	}
	r.s.forward(q.clone())
	return true
}

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withEDNS gives m an OPT record of the given buffer size and DO bit, and
// options.
func withEDNS(m *dns.Msg, size uint16, do bool, opts ...dns.EDNS0) *dns.Msg {
	m.SetEdns0(size, do)
	m.IsEdns0().Option = opts
	return m
}

// TestPlainHitAnswersAsUnpackedDoes: a cache hit read from the packet's
// bytes gets byte for byte the answer the same query gets unpacked, and so
// does every query that is not plain or not a hit.
func TestPlainHitAnswersAsUnpackedDoes(t *testing.T) {
	clk := dnstest.NewClock()
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		switch q := r.Question[0]; {
		case strings.HasPrefix(strings.ToLower(q.Name), "big."):
			answerAs(w, r, 40)
		case strings.HasPrefix(strings.ToLower(q.Name), "nx."):
			answerRcode(dns.RcodeNameError, testSOA(60, 60))(w, r)
		default:
			dnstest.AnswerA("192.0.2.1", 300)(w, r)
		}
	})
	s, _ := startProxy(t, func(c *Config) { c.Now = clk.Now }, up.Addr)
	rig := newUDPRig(t, s)
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}
	noRD := question("nord.example.test.", dns.TypeA)
	noRD.RecursionDesired = false
	cd := question("cd.example.test.", dns.TypeA)
	cd.CheckingDisabled = true
	served := []struct {
		name string
		m    *dns.Msg
	}{
		{"plain", question("www.example.test.", dns.TypeA)},
		{"0x20 case", question("cAsE.ExAmple.TEST.", dns.TypeA)},
		{"EDNS0 with DO", withEDNS(question("do.example.test.", dns.TypeA), 1232, true)},
		{"dig's cookie", withEDNS(question("cookie.example.test.", dns.TypeA), 1232, false, cookie)},
		{"no RD", noRD},
		{"CD", cd},
		{"digits, - and _", question("_sip-1._udp.example.test.", dns.TypeSRV)},
		{"root", question(".", dns.TypeNS)},
		{"big answer, big buffer", withEDNS(question("big.example.test.", dns.TypeA), 4096, false)},
	}
	for _, tt := range served {
		t.Run(tt.name, func(t *testing.T) {
			fill := tt.m.Copy() // in another case than the hit's
			fill.Question[0].Name = strings.ToLower(fill.Question[0].Name)
			s.ServeDNS(newRecorder(), fill)
			clk.Advance(7 * time.Second) // TTLs count down
			tt.m.Id = 0xBEEF
			if !rig.hit(pack(t, tt.m)) {
				t.Fatal("not answered from the cache")
			}
			fast := rig.p.read(t)
			full := newRecorder()
			s.ServeDNS(full, tt.m)
			if !bytes.Equal(fast, full.out) {
				t.Errorf("read from its bytes, the query got\n%x\nunpacked\n%x", fast, full.out)
			}
			if r := new(dns.Msg); r.Unpack(fast) != nil || r.Id != 0xBEEF || r.Question[0].Name != tt.m.Question[0].Name ||
				len(r.Answer) == 0 || r.Answer[0].Header().Ttl != 293 {
				t.Errorf("answer %v: want ID 0xBEEF, the question as asked, TTL 293", r)
			}
		})
	}
	badVers := withEDNS(question("www.example.test.", dns.TypeA), 1232, false)
	badVers.IsEdns0().SetVersion(1)
	other := &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1}}
	s.ServeDNS(newRecorder(), question(`<b>.example.test.`, dns.TypeA))
	s.ServeDNS(newRecorder(), question("nx.example.test.", dns.TypeA))
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"NXDOMAIN: observed and annotated", pack(t, question("nx.example.test.", dns.TypeA))},
		{"HTML in a label", pack(t, question(`<b>.example.test.`, dns.TypeA))},
		{"EDNS version 1", pack(t, badVers)},
		{"an EDNS option nxray does not read", pack(t, withEDNS(question("www.example.test.", dns.TypeA), 1232, false, other))},
		{"too big for 512 bytes", pack(t, question("big.example.test.", dns.TypeA))},
		{"type 0", pack(t, question("www.example.test.", 0))},
		{"trailing byte", append(pack(t, question("www.example.test.", dns.TypeA)), 0)},
	} {
		t.Run("not plain or not a hit: "+tt.name, func(t *testing.T) {
			rig.handle(tt.b)
			got := rig.p.read(t)
			full := newRecorder()
			req := new(dns.Msg)
			req.Unpack(tt.b) // what miekg/dns reads of it
			s.ServeDNS(full, req)
			if !bytes.Equal(got, full.out) {
				t.Errorf("handled as read, the query got\n%x\nunpacked\n%x", got, full.out)
			}
		})
	}
}

// TestUDPAnswersAsMiekgServerDid: what is not a plain query gets, byte for
// byte, what a miekg/dns server gives it, and what that server ignores is
// ignored.
func TestUDPAnswersAsMiekgServerDid(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	// A miekg/dns server whose handler must never be reached: its own
	// rules answer every packet below.
	miekg := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) { t.Errorf("handler reached with %v", r) })
	twoQ := question("a.example.test.", dns.TypeA)
	twoQ.Question = append(twoQ.Question, dns.Question{Name: "b.example.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	update := question("example.test.", dns.TypeSOA)
	update.Opcode, update.Truncated, update.AuthenticatedData, update.RecursionAvailable = dns.OpcodeUpdate, true, true, true
	badOPT := pack(t, withEDNS(question("www.example.test.", dns.TypeA), 1232, false))
	badOPT[len(badOPT)-1] = 9 // RDLENGTH 9, with nothing after it
	for _, tt := range []struct {
		name  string
		b     []byte
		rcode int
	}{
		{"two questions", pack(t, twoQ), dns.RcodeFormatError},
		{"UPDATE, with TC, AD and RA set", pack(t, update), dns.RcodeNotImplemented},
		{"an OPT record longer than the packet", badOPT, dns.RcodeFormatError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, want := exchangeUDP(t, addr, tt.b), exchangeUDP(t, miekg.Addr, tt.b)
			if !bytes.Equal(got, want) {
				t.Errorf("nxray answered\n%x\na miekg/dns server\n%x", got, want)
			}
			if r := new(dns.Msg); r.Unpack(got) != nil || r.Id != be16(tt.b) || r.Rcode != tt.rcode || !r.Response {
				t.Errorf("answer %v, want ID %d and %s", r, be16(tt.b), dns.RcodeToString[tt.rcode])
			}
		})
	}
	t.Run("a question promised, none sent", func(t *testing.T) {
		// miekg/dns reads this as a query without a question and hands it
		// to ServeDNS, which answers FORMERR.
		b := exchangeUDP(t, addr, []byte{0, 3, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
		if r := new(dns.Msg); r.Unpack(b) != nil || r.Id != 3 || r.Rcode != dns.RcodeFormatError {
			t.Errorf("answer %x, want FORMERR with ID 3", b)
		}
	})
	t.Run("a response or a runt is not answered", func(t *testing.T) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp := question("a.example.test.", dns.TypeA)
		resp.Id, resp.Response = 4, true
		conn.Write(pack(t, resp))
		conn.Write([]byte{0, 5, 0})
		q := question("a.example.test.", dns.TypeA)
		q.Id = 6
		conn.Write(pack(t, q))
		buf := make([]byte, 65535)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || n < 2 || be16(buf) != 6 {
			t.Errorf("first answer %x (%v), want the one with ID 6: a response or a runt was answered", buf[:n], err)
		}
	})
}

// FuzzUDPPacket drives the UDP packet path as a reader does. Whatever
// arrives, nxray must not panic; a query gets one answer with its ID; what
// is read as a plain query from its bytes, miekg/dns must read the same
// way, so that both agree on what is cached and sent upstream; and a hit
// gets what the same query unpacked gets.
func FuzzUDPPacket(f *testing.F) {
	for _, m := range []*dns.Msg{
		question("www.example.test.", dns.TypeTXT),
		question("WwW.ExAmPlE.TeSt.", dns.TypeTXT),
		withEDNS(question("do.example.test.", dns.TypeTXT), 512, true),
		withEDNS(question("cookie.example.test.", dns.TypeTXT), 1232, false,
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}, &dns.EDNS0_PADDING{Padding: make([]byte, 8)}),
		question(strings.Repeat(strings.Repeat("a", 63)+".", 3)+strings.Repeat("b", 61)+".", dns.TypeTXT), // 255 bytes
		question(`<img\032src=x>.example.test.`, dns.TypeTXT),
		question(".", dns.TypeNS),
	} {
		b, _ := m.Pack()
		f.Add(b)
	}
	s, obs := fuzzServer(f, dnstest.NewClock().Now) // a still clock: both routes see the same TTLs
	rig := newUDPRig(f, s)

	f.Fuzz(func(t *testing.T, b []byte) {
		q := &query{proto: "udp", pkt: b}
		if q.read(maxUDPSize) && q.plain {
			req := new(dns.Msg)
			if err := req.Unpack(b); err != nil {
				t.Fatalf("read a query miekg/dns cannot: %v", err)
			}
			if want := dnscache.KeyOf(req, req.IsEdns0()); q.key != want || q.limit != udpLimit(req, maxUDPSize) {
				t.Fatalf("read key %+v limit %d, miekg/dns %+v limit %d", q.key, q.limit, want, udpLimit(req, maxUDPSize))
			}
			// Sent upstream from its bytes, it is what packing it makes.
			fromBytes, err := q.upstreamWire(nil)
			if err != nil {
				t.Fatal(err)
			}
			q.plain = false
			packed, err := q.upstreamWire(nil)
			if err != nil {
				t.Fatal(err)
			}
			fromBytes[0], fromBytes[1] = packed[0], packed[1] // the IDs are random
			if !bytes.Equal(fromBytes, packed) {
				t.Fatalf("from its bytes, the query upstream is\n%x\npacked\n%x", fromBytes, packed)
			}
		}
		answered := len(b) >= dnscache.HeaderLen && b[2]&0x80 == 0
		for range 2 { // the second pass finds the first's answer cached
			hit := rig.hit(b)
			if !answered {
				continue
			}
			got := rig.p.read(t)
			r := new(dns.Msg)
			if err := r.Unpack(got); err != nil {
				t.Fatalf("answer does not unpack: %v", err)
			}
			if r.Id != be16(b) || !r.Response {
				t.Fatalf("answer ID %d response %v, want ID %d", r.Id, r.Response, be16(b))
			}
			if hit { // unpacked, the query must get the same bytes
				req := new(dns.Msg)
				req.Unpack(b)
				full := newRecorder()
				s.ServeDNS(full, req)
				if !bytes.Equal(got, full.out) {
					t.Fatalf("read from its bytes, the query got\n%x\nunpacked\n%x", got, full.out)
				}
			}
			obs.check(t)
		}
	})
}

// BenchmarkUDPCacheHit is the hot path as a UDP reader runs it: a packed
// query read from its bytes, answered from the cache and written to a
// loopback socket.
func BenchmarkUDPCacheHit(b *testing.B) {
	s, up := cachingServer(b)
	benchUDPHit(b, s)
	b.StopTimer()
	if up.Queries() != 1 {
		b.Fatalf("upstream saw %d queries: not a cache hit", up.Queries())
	}
}

// benchUDPHit measures s answering a packed A query for www.example.test.
// from the cache as a UDP reader does, writing to a loopback socket.
func benchUDPHit(b *testing.B, s *Server) {
	rig := newUDPRig(b, s)
	req := withEDNS(question("www.example.test.", dns.TypeA), 1232, false)
	s.ServeDNS(newRecorder(), req.Copy()) // warm
	pkt := pack(b, req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rig.handle(pkt) {
			b.Fatal("not a cache hit")
		}
	}
}
