package proxy

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// TestPlainMissAnswersAsUnpackedDoes: a plain UDP query nothing is cached
// for, read from its bytes and sent upstream from them, gets byte for byte
// the answer the same query gets when it is unpacked first: for plain
// answers passed on as they came, and for the rest (a timeout, a failover
// rcode, a truncated answer, one too big for the client, one explained).
func TestPlainMissAnswersAsUnpackedDoes(t *testing.T) {
	first := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
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
	second := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
	type side struct {
		*missRig
		obs *recordingObserver
		rec *countingRecorder
	}
	server := func() side {
		obs := &recordingObserver{}
		rec := &countingRecorder{answers: map[string]int{}, tries: map[string]int{}}
		return side{newMissRig(t, Config{
			Upstreams:      []Upstream{{Net: "udp", Addr: first.Addr}, {Net: "udp", Addr: second.Addr}},
			Timeout:        time.Second, // "slow." waits it out, twice
			Deadline:       5 * time.Second,
			Cache:          CacheConfig{Size: 100, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
			FailoverRcodes: []int{dns.RcodeServerFailure, dns.RcodeRefused},
			Observer:       obs,
			Recorder:       rec,
			// explained failures (EDNS0 clients) are unpacked
			Annotator: &fakeAnnotator{code: dns.ExtendedErrorCodeOther, text: "nxray: why", known: true},
		}), obs, rec}
	}
	plain, unpacked := server(), server()

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
			plain.send(t, b)
			got := plain.p.read(t)
			if !unpacked.handleUnpacked(b) {
				t.Fatal("not sent upstream")
			}
			want := unpacked.p.read(t)
			if !bytes.Equal(got, want) {
				t.Errorf("read from its bytes, the query got\n%x\nunpacked\n%x", got, want)
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
	// What the operator sees is the same too: counters, metrics, failures.
	if a, b := plain.s.Stats(), unpacked.s.Stats(); !reflect.DeepEqual(a, b) || a.Queries != 13 || a.CacheMisses != 13 {
		t.Errorf("stats, read from bytes %+v\nunpacked %+v\nwant 13 queries, 13 misses", a, b)
	}
	pa, pt := plain.rec.snapshot()
	ua, ut := unpacked.rec.snapshot()
	if !reflect.DeepEqual(pa, ua) || !reflect.DeepEqual(pt, ut) {
		t.Errorf("recorded, read from bytes %v %v\nunpacked %v %v", pa, pt, ua, ut)
	}
	a, b := plain.obs.failures(), unpacked.obs.failures()
	if len(a) != 3 || len(a) != len(b) {
		t.Fatalf("observed %d failures read from bytes, %d unpacked, want 3", len(a), len(b))
	}
	for i := range a {
		a[i].Time, b[i].Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Errorf("observed, read from bytes %+v\nunpacked %+v", a[i], b[i])
		}
	}
}

// TestMissAfterARefusal: an upstream that refuses (ICMP port unreachable,
// which fails the shared socket) fails its query at once, and once it
// answers again, queries go to it again on a new socket.
func TestMissAfterARefusal(t *testing.T) {
	addr := dnstest.DeadAddr(t)
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
	dnstest.StartAt(t, addr, dnstest.AnswerA("192.0.2.1", 60)) // the upstream is back
	if r := ask("back.example.test."); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("query after the upstream came back answered %v", r)
	}
}

// missRig is a Server, not listening, driven as one UDP reader drives it.
type missRig struct {
	*udpRig
}

func newMissRig(t *testing.T, cfg Config) *missRig {
	t.Helper()
	cfg.ACL = loopbackACL
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.route.Load().pool.Close() })
	return &missRig{newUDPRig(t, s)}
}

// send has the packed query b go upstream as a reader sends it, or fails.
func (r *missRig) send(t *testing.T, b []byte) {
	t.Helper()
	if !r.handle(b) {
		t.Fatal("not sent upstream")
	}
}

// ask sends m upstream and returns the answer.
func (r *missRig) ask(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	r.send(t, pack(t, m))
	a := new(dns.Msg)
	if err := a.Unpack(r.p.read(t)); err != nil {
		t.Fatal(err)
	}
	return a
}
