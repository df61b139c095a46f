package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// bigTXT answers TXT queries with n 250-byte strings over TCP, and, as a
// server offered 1232 bytes would, with TC=1 and nothing over UDP.
func bigTXT(n int) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncated = true
		} else {
			for i := range n {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT,
					Class: dns.ClassINET, Ttl: 300}, Txt: []string{strings.Repeat(string(rune('a'+i%26)), 250)}})
			}
		}
		w.WriteMsg(m)
	}
}

// udpRaw sends m over UDP and returns the answer's bytes as they came.
func udpRaw(t *testing.T, addr string, m *dns.Msg) (query, answer []byte) {
	t.Helper()
	q := pack(t, m)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return q, buf[:n]
}

// A query offering a 65535-byte buffer for a 60 KB answer gets at most
// max_udp_size bytes over UDP, truncated, from an upstream or the cache,
// with the query log on or off. Over TCP it gets the whole answer.
// Without the cap a 49-byte query drew the whole 60 KB at whatever address
// it claimed to come from.
func TestUDPAnswersAreCappedAgainstAmplification(t *testing.T) {
	up := dnstest.Start(t, bigTXT(230)) // ~60 KB
	for _, tt := range []struct {
		name string
		mod  func(*Config)
	}{
		{"plain queries", nil},
		{"with the query log", func(c *Config) { c.LogQueries = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startProxy(t, tt.mod, up.Addr)
			m := question("big.example.test.", dns.TypeTXT)
			m.SetEdns0(65535, false)
			for _, pass := range []string{"miss", "hit"} {
				q, b := udpRaw(t, addr, m)
				r := new(dns.Msg)
				if err := r.Unpack(b); err != nil {
					t.Fatalf("%s: %v", pass, err)
				}
				t.Logf("%s: a %d-byte query got %d bytes (%.1fx), TC=%v", pass, len(q), len(b), float64(len(b))/float64(len(q)), r.Truncated)
				if len(b) > 1232 || !r.Truncated {
					t.Errorf("%s: a %d-byte query got %d bytes (%.0fx) with TC=%v, want at most 1232 and TC",
						pass, len(q), len(b), float64(len(b))/float64(len(q)), r.Truncated)
				}
			}
			if r := ask(t, "tcp", addr, m); r.Truncated || len(r.Answer) != 230 {
				t.Errorf("over TCP: TC=%v with %d records, want all 230", r.Truncated, len(r.Answer))
			}
		})
	}
	t.Run("configured higher", func(t *testing.T) {
		_, addr := startProxy(t, func(c *Config) { c.MaxUDPSize = 4096 }, up.Addr)
		m := question("big.example.test.", dns.TypeTXT)
		m.SetEdns0(65535, false)
		if _, b := udpRaw(t, addr, m); len(b) <= 1232 || len(b) > 4096 {
			t.Errorf("max_udp_size 4096: a %d-byte answer, want between 1232 and 4096", len(b))
		}
	})
}

// Zone transfers are not forwarded, over UDP or TCP: the client is told
// REFUSED with EDE 21 (Not Supported) and the upstream never sees them.
func TestZoneTransfersAreRefused(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		for _, network := range []string{"udp", "tcp"} {
			for _, edns := range []bool{false, true} {
				m := question("example.test.", qtype)
				if edns {
					m.SetEdns0(1232, false)
				}
				r := ask(t, network, addr, m)
				if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
					t.Errorf("%s over %s: %s with %d records, want REFUSED", dns.TypeToString[qtype], network,
						dns.RcodeToString[r.Rcode], len(r.Answer))
				}
				if ede := edeOf(r); edns && (len(ede) != 1 || ede[0].InfoCode != dns.ExtendedErrorCodeNotSupported) {
					t.Errorf("%s over %s: EDE %v, want 21 Not Supported", dns.TypeToString[qtype], network, ede)
				}
			}
		}
	}
	if n := up.Queries(); n != 0 {
		t.Errorf("the upstream saw %d zone transfer queries, want none", n)
	}
}

// A query with two OPT records is malformed (RFC 6891 6.1.1): FORMERR, and
// nothing forwarded.
func TestTwoOPTRecordsGetFORMERR(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	m := question("two.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
	for _, network := range []string{"udp", "tcp"} {
		if r := ask(t, network, addr, m); r.Rcode != dns.RcodeFormatError {
			t.Errorf("over %s: %s, want FORMERR", network, dns.RcodeToString[r.Rcode])
		}
	}
	if n := up.Queries(); n != 0 {
		t.Errorf("the upstream saw %d malformed queries, want none", n)
	}
}

// An upstream that predates EDNS answers an EDNS query FORMERR without an
// OPT record; nxray asks it again without EDNS (RFC 6891 section 7), and
// its client, which sent EDNS, gets the answer with nxray's OPT record.
func TestFORMERRToEDNSIsRetriedWithout(t *testing.T) {
	var mu sync.Mutex
	var seen []bool // whether each query came with EDNS
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		seen = append(seen, r.IsEdns0() != nil)
		mu.Unlock()
		if r.IsEdns0() != nil {
			w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeFormatError))
			return
		}
		dnstest.AnswerA("192.0.2.8", 60)(w, r)
	})
	_, addr := startProxy(t, nil, up.Addr)
	for i, network := range []string{"udp", "tcp"} {
		m := question([]string{"old.example.test.", "older.example.test."}[i], dns.TypeA)
		m.SetEdns0(1232, false)
		r := ask(t, network, addr, m)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.IsEdns0() == nil {
			t.Errorf("over %s: %v, want the answer with an OPT record", network, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 4 || !seen[0] || seen[1] || !seen[2] || seen[3] {
		t.Errorf("the upstream saw EDNS %v, want each name asked with EDNS, then once without", seen)
	}
}

// An upstream that answers FORMERR with an OPT record understood EDNS and
// rejected the query itself: that answer stands, with no retry.
func TestFORMERRWithOPTIsNotRetried(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeFormatError)
		m.SetEdns0(1232, false)
		w.WriteMsg(m)
	})
	_, addr := startProxy(t, nil, up.Addr)
	m := question("bad.example.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	if r := ask(t, "udp", addr, m); r.Rcode != dns.RcodeFormatError {
		t.Errorf("rcode %s, want the upstream's FORMERR", dns.RcodeToString[r.Rcode])
	}
	if n := up.Queries(); n != 1 {
		t.Errorf("the upstream was asked %d times, want once", n)
	}
}

// One name whose answer never comes (its authoritative servers are dead,
// say) is one failure however often it is asked: the upstreams answer their
// health probe and stay up. Before, every timeout marked an upstream down,
// and a client retrying one bad name made both upstreams flap.
func TestOneFailingNameDoesNotMarkUpstreamsDown(t *testing.T) {
	probed := make(chan struct{}, 100)
	handle := func(w dns.ResponseWriter, r *dns.Msg) {
		switch r.Question[0].Name {
		case "stuck.example.test.":
			return // never answered
		case ".":
			probed <- struct{}{}
		}
		dnstest.AnswerA("192.0.2.1", 60)(w, r)
	}
	a, b := dnstest.Start(t, handle), dnstest.Start(t, handle)
	events := dnstest.NewLog()
	s, addr := startProxy(t, func(c *Config) {
		c.Timeout, c.Deadline = 200*time.Millisecond, 500*time.Millisecond
		c.Cache.Size = 0
		c.Logger = events.Logger()
	}, a.Addr, b.Addr)
	for range 5 {
		if r := ask(t, "udp", addr, question("stuck.example.test.", dns.TypeA)); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("the stuck name: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
		}
	}
	if r := ask(t, "udp", addr, question("fine.example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Errorf("another name: %s", dns.RcodeToString[r.Rcode])
	}
	wait(t, probed, "a health probe")
	wait(t, probed, "the other health probe")
	// Shutdown waits for the probes: what they did is done.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	for _, u := range s.Upstreams() {
		if u.Down {
			t.Errorf("%s is marked down for one name's timeouts", u.Upstream)
		}
	}
	for _, line := range events.Lines() {
		if strings.HasPrefix(line, "upstream down") {
			t.Error("an upstream was logged down for one name's timeouts")
		}
	}
}

// Tries for several different names failing in a row mark an upstream down
// at once, before its health probe has had its time.
func TestFailuresForDifferentNamesMarkDown(t *testing.T) {
	hole, _ := dnstest.Blackhole(t)
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	events := dnstest.NewLog()
	s, addr := startProxy(t, func(c *Config) {
		c.Timeout, c.Deadline = time.Second, 3*time.Second
		c.HealthInterval = time.Hour
		c.Cache.Size = 0
		c.Logger = events.Logger()
	}, hole, good.Addr)
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Go(func() { ask(t, "udp", addr, question(name+".example.test.", dns.TypeA)) })
	}
	wg.Wait()
	if !s.Upstreams()[0].Down {
		t.Error("three names failed in a row and the upstream is not down")
	}
	if line := events.Wait(t, "upstream down"); !strings.Contains(line, "different names") {
		t.Errorf("down for another reason: %s", line)
	}
}
