package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/upstream"
)

// recorder is a dns.ResponseWriter that keeps what was written.
type recorder struct {
	remote net.Addr
	out    []byte
}

func (r *recorder) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	r.out = b
	return err
}
func (r *recorder) Write(b []byte) (int, error) { r.out = append(r.out[:0], b...); return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

func newRecorder() *recorder {
	return &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
}

// echoUpstream answers every query with a record of the asked type when
// it can make one, NXDOMAIN with a SOA otherwise.
func echoUpstream(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg).SetReply(r)
	q := r.Question[0]
	if rr, err := dns.NewRR(q.Name + " 60 IN TXT \"fuzz\""); err == nil && q.Qtype == dns.TypeTXT {
		m.Answer = append(m.Answer, rr)
	} else {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, testSOA(60, 30))
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(1232, opt.Do())
	}
	w.WriteMsg(m)
}

// soaObserver checks the SOA each failure reports against echoUpstream's:
// only an NXDOMAIN has one, testSOA(60, 30), its TTL counted down at most.
// It keeps the first failure that does not.
type soaObserver struct {
	mu  sync.Mutex
	bad *Failure
}

func (o *soaObserver) Observe(f Failure) {
	want, s := testSOA(60, 30), f.SOA
	if s == nil || f.Rcode == dns.RcodeNameError && strings.EqualFold(s.Hdr.Name, want.Hdr.Name) &&
		s.Serial == want.Serial && s.Minttl == want.Minttl && s.Hdr.Ttl <= want.Hdr.Ttl {
		return
	}
	o.mu.Lock()
	if o.bad == nil {
		o.bad = &f
	}
	o.mu.Unlock()
}

// check fails t if a failure since the last check broke the rule: a
// failure is observed before its answer is written, so after the answer
// to an input, for that input.
func (o *soaObserver) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	bad := o.bad
	o.bad = nil
	o.mu.Unlock()
	if bad != nil {
		t.Fatalf("failure %s %s reported SOA %v", bad.Name, dns.RcodeToString[bad.Rcode], bad.SOA)
	}
}

// fuzzServer adds the malformed packets every packet fuzzer starts from and
// returns a caching Server in front of echoUpstream, not listening, and the
// observer of its failures. now is its clock; nil is the real one.
func fuzzServer(f *testing.F, now func() time.Time) (*Server, *soaObserver) {
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}) // pointer loop
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})                                // cut after the name
	up := dnstest.Start(f, echoUpstream)
	obs := &soaObserver{}
	s, err := New(Config{
		Upstreams: []Upstream{{Net: "udp", Addr: up.Addr}},
		ACL:       loopbackACL,
		Cache:     CacheConfig{Size: 1000, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
		Now:       now,
		Observer:  obs,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.route.Load().pool.Close() })
	return s, obs
}

// FuzzServeDNS drives the query path as miekg/dns does for each packet:
// unpack, then ServeDNS. Whatever arrives, nxray must not panic, and what
// it writes must be a DNS answer to that query. Each input is served twice
// so the second pass takes the cache-hit path.
func FuzzServeDNS(f *testing.F) {
	seed := func(m *dns.Msg) { b, _ := m.Pack(); f.Add(b) }
	seed(question("www.example.test.", dns.TypeA))    // plain query
	seed(question("WwW.ExAmPlE.TeSt.", dns.TypeTXT))  // 0x20 case, answered
	edns := question("do.example.test.", dns.TypeTXT) // EDNS0 with DO and a tiny buffer
	edns.SetEdns0(512, true)
	seed(edns)
	seed(question(`<img\032src=x\032onerror=alert(1)>.example.test.`, dns.TypeTXT))        // HTML in a label
	long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + "." // 255 bytes
	seed(question(long, dns.TypeTXT))
	s, obs := fuzzServer(f, nil)

	f.Fuzz(func(t *testing.T, packet []byte) {
		req := new(dns.Msg)
		if req.Unpack(packet) != nil || req.Response {
			return // miekg/dns answers these itself (FORMERR) or drops them
		}
		for range 2 {
			w := newRecorder()
			st := time.Now()
			s.ServeDNS(w, req.Copy())
			if time.Since(st) > time.Second {
				t.Fatalf("slow: %x", packet)
			}
			if w.out == nil {
				t.Fatal("no answer written")
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(w.out); err != nil {
				t.Fatalf("answer does not unpack: %v", err)
			}
			if resp.Id != req.Id || !resp.Response {
				t.Fatalf("answer id %d response=%v, want id %d", resp.Id, resp.Response, req.Id)
			}
			if len(resp.Question) == 1 && len(req.Question) == 1 && resp.Question[0].Name != req.Question[0].Name {
				t.Fatalf("question came back as %q, sent %q", resp.Question[0].Name, req.Question[0].Name)
			}
			if len(w.out) > udpLimit(req, maxUDPSize) {
				t.Fatalf("%d-byte UDP answer for a client that takes %d", len(w.out), udpLimit(req, maxUDPSize))
			}
			obs.check(t)
		}
	})
}

// FuzzTCPStream writes arbitrary bytes to a TCP connection as a client's
// stream of length-prefixed queries, then half-closes it. Whatever the
// stream, nxray must not panic; each thing it writes must be a whole DNS
// answer to a message in the stream; and it must close the connection once
// it has answered what it read.
func FuzzTCPStream(f *testing.F) {
	q := func(name string, qtype, id uint16) []byte {
		m := question(name, qtype)
		m.Id = id
		b, _ := m.Pack()
		return b
	}
	resp, _ := new(dns.Msg).SetReply(question("r.example.test.", dns.TypeA)).Pack()
	update := question("example.test.", dns.TypeSOA)
	update.Opcode = dns.OpcodeUpdate
	upd, _ := update.Pack()
	f.Add(framed(q("a.example.test.", dns.TypeTXT, 1), q("b.example.test.", dns.TypeA, 2)))      // pipelined
	f.Add(framed(q("a.example.test.", dns.TypeTXT, 1))[:9])                                      // cut short
	f.Add(framed(q("a.example.test.", dns.TypeTXT, 1), nil, q("b.example.test.", dns.TypeA, 2))) // zero length: done
	f.Add(framed([]byte{0xAB}, resp, upd))                                                       // a runt, a response, UPDATE
	f.Add(framed([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}))  // pointer loop
	f.Add([]byte{0xFF, 0xFF, 0, 1, 1, 0})                                                        // more promised than sent
	up := dnstest.Start(f, echoUpstream)
	_, addr := startProxy(f, nil, up.Addr)

	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 4096 {
			return // enough for many messages; keeps each run short
		}
		asked := map[uint16]int{} // answers each ID may get
		for b := stream; len(b) >= 2; {
			n := int(be16(b))
			if n == 0 || len(b) < 2+n {
				break
			}
			if n >= 2 {
				asked[be16(b[2:])]++
			}
			b = b[2+n:]
		}
		conn := dial(t, addr)
		if _, err := conn.Write(stream); err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).CloseWrite()
		for _, b := range readFrames(t, conn) {
			r := new(dns.Msg)
			if err := r.Unpack(b); err != nil {
				t.Fatalf("answer %x does not unpack: %v", b, err)
			}
			if !r.Response || asked[r.Id] == 0 {
				t.Fatalf("answer %v: not a response, or to no message sent", r)
			}
			asked[r.Id]--
		}
	})
}

// FuzzPlainAnswer feeds arbitrary answers to a query, with and without
// EDNS0, to the check that lets an answer through without unpacking. What it
// lets through must be what unpacking would have accepted as the answer:
// miekg/dns reads it, and it has the query's ID and question, NOERROR or
// NXDOMAIN, not truncated, and an option-less OPT record of version 0 when,
// and only when, the query had one. rawFits must then leave nxray's OPT.
func FuzzPlainAnswer(f *testing.F) {
	plain := question("www.example.test.", dns.TypeA)
	edns := withEDNS(question("www.example.test.", dns.TypeA), 1232, true)
	for _, q := range []*dns.Msg{plain, edns} {
		m := new(dns.Msg).SetReply(q)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(192, 0, 2, 1)}}
		if q.IsEdns0() != nil {
			m.SetEdns0(4096, true)
		}
		for _, compress := range []bool{false, true} {
			m.Compress = compress
			b, _ := m.Pack()
			f.Add(b, q.IsEdns0() != nil)
		}
		m.Rcode, m.Answer, m.Ns = dns.RcodeNameError, nil, []dns.RR{testSOA(60, 30)}
		b, _ := m.Pack()
		f.Add(b, q.IsEdns0() != nil)
		m.Rcode, m.Ns = dns.RcodeSuccess, nil // every type a plain answer may hold, compressed
		for _, rr := range []string{"www.example.test. 60 IN CNAME web.example.test.", "web.example.test. 60 IN AAAA 2001:db8::1",
			"web.example.test. 60 IN MX 10 mail.example.test.", `web.example.test. 60 IN TXT "a" "bc"`,
			"web.example.test. 60 IN SRV 1 2 53 ns.example.test.", "web.example.test. 60 IN PTR ptr.example.test."} {
			r, _ := dns.NewRR(rr)
			m.Answer = append(m.Answer, r)
		}
		m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.example.test."}}
		m.Compress = true
		b, _ = m.Pack()
		f.Add(b, q.IsEdns0() != nil)
	}
	queries := map[bool][]byte{}
	for _, q := range []*dns.Msg{plain, edns} {
		b, _ := q.Pack()
		queries[q.IsEdns0() != nil] = b
	}
	f.Fuzz(func(t *testing.T, b []byte, withOPT bool) {
		q := queries[withOPT]
		l, ok := dnscache.PlainAnswer(b, q)
		if !ok {
			return
		}
		if ll, err := dnscache.Scan(b); err != nil || !reflect.DeepEqual(l, ll) {
			t.Fatalf("the strict scan's layout %+v is not the cache's %+v (%v)", l, ll, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("let through an answer miekg/dns cannot read: %v", err)
		}
		if !upstream.Matches(b, q) || m.Id != be16(q) || !strings.EqualFold(m.Question[0].Name, plain.Question[0].Name) || m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
			t.Fatalf("let through an answer unpacking would not have taken: %v", m)
		}
		opt := m.IsEdns0()
		if (opt != nil) != withOPT || opt != nil && (len(opt.Option) > 0 || opt.Version() != 0 || opt.ExtendedRcode() != 0) {
			t.Fatalf("let through an answer whose OPT fitOPT would change beyond its size and flags: %v", m)
		}
		if !rawFits(b, &l, withOPT, dns.MaxMsgSize) {
			t.Fatal("a plain answer to a query of the same EDNS0 does not fit a TCP client")
		}
		if err := m.Unpack(b); err != nil {
			t.Fatalf("rawFits broke the answer: %v", err)
		}
		if opt := m.IsEdns0(); opt != nil && (opt.UDPSize() != maxUDPSize || opt.Z() != 0) {
			t.Fatalf("rawFits left OPT size %d, Z %#x", opt.UDPSize(), opt.Z())
		}
	})
}
