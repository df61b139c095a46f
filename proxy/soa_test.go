package proxy

import (
	"github.com/nxray/nxray/internal/dnscache"

	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// negativeSOA is the SOA negativeUpstream puts in its negative answers.
func negativeSOA() *dns.SOA {
	s := testSOA(60, 30)
	s.Serial = 2026112601
	return s
}

// negativeUpstream answers by the first label of the name: "nx" NXDOMAIN
// with negativeSOA in authority; "nxc" the same, compressed; "cname" a CNAME
// to a name that does not exist, then the same; "nxede" the same with an
// EDE, which makes it an answer the proxy unpacks; "nosoa" NXDOMAIN without
// a SOA; "fail" SERVFAIL, with the SOA all the same.
func negativeUpstream(t testing.TB) *dnstest.Server {
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{negativeSOA()}
		if r.IsEdns0() != nil {
			m.SetEdns0(1232, false)
		}
		switch label, _, _ := strings.Cut(strings.ToLower(q.Name), "."); label {
		case "nxc":
			m.Compress = true
		case "cname":
			m.Answer = []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60},
				Target: "gone.example.test."}}
			m.Compress = true
		case "nxede":
			if o := m.IsEdns0(); o != nil {
				o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: "upstream"})
			}
		case "nosoa":
			m.Ns = nil
		case "fail":
			m.Rcode = dns.RcodeServerFailure
		}
		w.WriteMsg(m)
	})
}

// soaCase is one negative answer and the SOA its failure must report: nil,
// or negativeSOA's with the given TTL.
type soaCase struct {
	name  string
	rcode int
	ttl   uint32 // 0: no SOA
}

var soaCases = []soaCase{
	{"nx.example.test.", dns.RcodeNameError, 60},
	{"nxc.example.test.", dns.RcodeNameError, 60},
	{"cname.example.test.", dns.RcodeNameError, 60},
	{"nxede.example.test.", dns.RcodeNameError, 60},
	{"nosoa.example.test.", dns.RcodeNameError, 0},
	{"fail.example.test.", dns.RcodeServerFailure, 0},
}

// checkFailureSOA checks the last failure obs saw: for tt's name and
// rcode, with tt's SOA, the TTL of the SOA the client got in r if any.
func checkFailureSOA(t *testing.T, obs *recordingObserver, tt soaCase, r *dns.Msg, cached bool) {
	t.Helper()
	if r.Rcode != tt.rcode {
		t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
	}
	seen := obs.failures()
	if len(seen) == 0 {
		t.Fatal("no failure observed")
	}
	f := seen[len(seen)-1]
	if f.Name != tt.name || f.Rcode != tt.rcode || f.Cached != cached {
		t.Fatalf("observed %s %s cached=%v, want %s %s cached=%v", f.Name, dns.RcodeToString[f.Rcode], f.Cached,
			tt.name, dns.RcodeToString[tt.rcode], cached)
	}
	if tt.ttl == 0 {
		if f.SOA != nil {
			t.Errorf("observed SOA %v, want none", f.SOA)
		}
		return
	}
	want := negativeSOA()
	if f.SOA == nil {
		t.Fatal("observed no SOA")
	}
	if !strings.EqualFold(f.SOA.Hdr.Name, want.Hdr.Name) || f.SOA.Serial != want.Serial || f.SOA.Minttl != want.Minttl ||
		f.SOA.Hdr.Ttl != tt.ttl {
		t.Errorf("observed SOA %s serial %d minimum %d TTL %d, want %s %d %d %d", f.SOA.Hdr.Name, f.SOA.Serial,
			f.SOA.Minttl, f.SOA.Hdr.Ttl, want.Hdr.Name, want.Serial, want.Minttl, tt.ttl)
	}
	var got *dns.SOA
	for _, rr := range r.Ns {
		if s, ok := rr.(*dns.SOA); ok {
			got = s
			break
		}
	}
	if got == nil || got.Hdr.Ttl != f.SOA.Hdr.Ttl {
		t.Errorf("observed SOA TTL %d, the client got %v", f.SOA.Hdr.Ttl, got)
	}
}

// TestFailureSOAFullPath: a failure answered the full way (a TCP query)
// reports the SOA of the upstream's NXDOMAIN, whether the answer went out
// as it came or was unpacked; a SERVFAIL and a NXDOMAIN without one none.
func TestFailureSOAFullPath(t *testing.T) {
	up := negativeUpstream(t)
	obs := &recordingObserver{}
	_, addr := startProxy(t, func(c *Config) { c.Observer = obs }, up.Addr)
	for _, tt := range soaCases {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(t, "tcp", addr, withEDNS(question(tt.name, dns.TypeA), 1232, false))
			checkFailureSOA(t, obs, tt, r, false)
		})
	}
}

// TestFailureSOAFastMiss: on the fast miss path a plain NXDOMAIN is
// reported from its bytes with its SOA, as the full path reports it.
func TestFailureSOAFastMiss(t *testing.T) {
	up := negativeUpstream(t)
	for _, edns := range []bool{false, true} {
		obs := &recordingObserver{}
		rig := newMissRig(t, Config{
			Upstreams:      []Upstream{{Net: "udp", Addr: up.Addr}},
			Timeout:        time.Second,
			Deadline:       3 * time.Second,
			Cache:          CacheConfig{Size: 100, MaxTTL: time.Hour, NegativeMaxTTL: time.Hour},
			FailoverRcodes: []int{dns.RcodeServerFailure, dns.RcodeRefused},
			Observer:       obs,
		})
		for _, tt := range soaCases {
			if tt.name == "nxede.example.test." && !edns {
				continue // no EDE without EDNS0
			}
			t.Run(tt.name+map[bool]string{false: "", true: " EDNS0"}[edns], func(t *testing.T) {
				m := question(tt.name, dns.TypeA)
				if edns {
					m.SetEdns0(1232, false)
				}
				r := rig.ask(t, m)
				checkFailureSOA(t, obs, tt, r, false)
			})
		}
		rig.u.pending.Wait()
	}
}

// TestFailureSOACacheHit: a negative answer served from the cache reports
// its SOA with the TTL the client got, counted down by the time it was
// cached, over UDP and TCP, hit after hit; what an observer does with the
// SOA it was handed does not change the next.
func TestFailureSOACacheHit(t *testing.T) {
	up := negativeUpstream(t)
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			clk := dnstest.NewClock()
			obs := &recordingObserver{}
			_, addr := startProxy(t, func(c *Config) { c.Observer, c.Now = obs, clk.Now }, up.Addr)
			for _, tt := range soaCases {
				if tt.name == "nosoa.example.test." {
					continue // not cached without a SOA
				}
				ask(t, proto, addr, withEDNS(question(tt.name, dns.TypeA), 1232, false))
			}
			// The entries live min(TTL 60, MINIMUM 30) = 30 s, SERVFAIL 5 s:
			// the SOA's TTL is what is left of that.
			for _, step := range []struct {
				after time.Duration
				ttl   uint32
			}{{3 * time.Second, 27}, {time.Second, 26}} {
				clk.Advance(step.after)
				for _, tt := range soaCases {
					if tt.name == "nosoa.example.test." {
						continue
					}
					t.Run(tt.name, func(t *testing.T) {
						r := ask(t, proto, addr, withEDNS(question(tt.name, dns.TypeA), 1232, false))
						if tt.ttl != 0 {
							tt.ttl = step.ttl
						}
						checkFailureSOA(t, obs, tt, r, true)
						if seen := obs.failures(); seen[len(seen)-1].SOA != nil {
							soa := seen[len(seen)-1].SOA
							soa.Hdr.Name, soa.Serial, soa.Minttl = "scribbled.test.", 0, 0 // the observer's own
						}
					})
				}
			}
		})
	}
}

// TestWireSOA: the SOA read from a packed answer is the one its unpacked
// message holds first in authority, whatever comes before it.
func TestWireSOA(t *testing.T) {
	soa, other := negativeSOA(), testSOA(90, 90)
	other.Hdr.Name = "other.test."
	ns := &dns.NS{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns.example.test."}
	cname := &dns.CNAME{Hdr: dns.RR_Header{Name: "a.example.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "b.example.test."}
	a := &dns.A{Hdr: dns.RR_Header{Name: "b.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}
	for _, tt := range []struct {
		name       string
		answer, ns []dns.RR
		want       *dns.SOA
	}{
		{"alone", nil, []dns.RR{soa}, soa},
		{"after the answer", []dns.RR{cname}, []dns.RR{soa}, soa},
		{"after an NS", nil, []dns.RR{ns, soa}, soa},
		{"the first of two", nil, []dns.RR{soa, other}, soa},
		{"none", []dns.RR{cname}, []dns.RR{ns}, nil},
		{"in the answer only", []dns.RR{soa}, nil, nil},
		{"no records", nil, nil, nil},
		{"an A in the answer", []dns.RR{a}, []dns.RR{other}, other},
	} {
		for _, compress := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "", true: ", compressed"}[compress], func(t *testing.T) {
				m := question("a.example.test.", dns.TypeA)
				m.Response, m.Rcode, m.Answer, m.Ns, m.Compress = true, dns.RcodeNameError, tt.answer, tt.ns, compress
				m.SetEdns0(1232, false)
				b := pack(t, m)
				got, ttlOff := dnscache.WireSOA(b)
				if got != nil && binary.BigEndian.Uint32(b[ttlOff:]) != got.Hdr.Ttl {
					t.Errorf("TTL at %d is %d, the SOA's %d", ttlOff, binary.BigEndian.Uint32(b[ttlOff:]), got.Hdr.Ttl)
				}
				if (got == nil) != (tt.want == nil) || got != nil && !dns.IsDuplicate(got, tt.want) || got != nil && got.Hdr.Ttl != tt.want.Hdr.Ttl {
					t.Errorf("wireSOA = %v, want %v", got, tt.want)
				}
				// The full path reads the same from the unpacked message.
				u := new(dns.Msg)
				if err := u.Unpack(b); err != nil {
					t.Fatal(err)
				}
				if fromMsg := failureSOA(dns.RcodeNameError, u, nil); (fromMsg == nil) != (got == nil) ||
					got != nil && (*fromMsg != *got) {
					t.Errorf("from the message %v, from the bytes %v", fromMsg, got)
				}
				for cut := range len(b) { // cut short anywhere: nil or the SOA, never a panic
					if s, _ := dnscache.WireSOA(b[:cut]); s != nil && !dns.IsDuplicate(s, tt.want) {
						t.Fatalf("cut at %d: %v", cut, s)
					}
				}
			})
		}
	}
	if s := failureSOA(dns.RcodeServerFailure, nil, nil); s != nil {
		t.Errorf("SERVFAIL: %v", s)
	}
}
