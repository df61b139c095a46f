package proxy

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

func TestForwardsOverUDPAndTCP(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 300))
	_, addr := startProxy(t, func(c *Config) { c.Cache.Size = 0 }, up.Addr)
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			m := question("WwW.ExAmple.TEST.", dns.TypeA)
			m.Id = 0xBEEF
			r := ask(t, network, addr, m)
			if r.Id != 0xBEEF {
				t.Errorf("id = %#x, want the client's 0xbeef", r.Id)
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
				t.Fatalf("answer = %v", r)
			}
			if got := r.Question[0].Name; got != "WwW.ExAmple.TEST." {
				t.Errorf("question name = %q, want the client's spelling", got)
			}
		})
	}
	if n := up.Queries(); n != 2 {
		t.Errorf("upstream saw %d queries, want 2", n)
	}
	if got := up.LastQuery().Question[0].Name; got != "WwW.ExAmple.TEST." {
		t.Errorf("upstream saw %q, want the client's 0x20 spelling kept", got)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			m.Truncated = true
		} else {
			for i := range 40 {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeTXT,
					Class: dns.ClassINET, Ttl: 60}, Txt: []string{strings.Repeat("x", 50) + string(rune('a'+i%26))}})
			}
		}
		w.WriteMsg(m)
	})
	// UDP answers may be as large as 4096 bytes here (the default is 1232).
	s, addr := startProxy(t, func(c *Config) { c.MaxUDPSize = 4096 }, up.Addr)
	m := question("big.example.test.", dns.TypeTXT)
	m.SetEdns0(4096, false)
	r := ask(t, "udp", addr, m)
	if r.Truncated {
		t.Fatal("client got TC=1 although nxray could fetch the whole answer over TCP")
	}
	// 40 records of ~60 bytes exceed nxray's 1232-byte EDNS size upstream:
	// the client asked for 4096, so it gets them all over UDP.
	if len(r.Answer) != 40 {
		t.Fatalf("got %d records, want 40", len(r.Answer))
	}
	// A client without EDNS0 gets TC=1 and retries over TCP, from the cache.
	r = ask(t, "udp", addr, question("big.example.test.", dns.TypeTXT))
	if !r.Truncated {
		t.Errorf("a 512-byte client got an untruncated %d-record answer", len(r.Answer))
	}
	r = ask(t, "tcp", addr, question("big.example.test.", dns.TypeTXT))
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("over TCP: TC=%v with %d records, want the whole answer", r.Truncated, len(r.Answer))
	}
	if s.Stats().CacheEntries == 0 {
		t.Error("the full answer fetched over TCP was not cached")
	}
}

func TestFailoverPastDeadAndSlowUpstreams(t *testing.T) {
	dead := dnstest.DeadAddr(t)
	slow, slowGot := dnstest.Blackhole(t)
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.7", 60))
	events := dnstest.NewLog()
	_, addr := startProxy(t, func(c *Config) {
		c.Timeout = 500 * time.Millisecond
		c.HealthInterval = time.Hour // one probe each, at once: none during the second query
		c.Cache.Size = 0
		c.Logger = events.Logger()
	}, dead, slow, good.Addr)

	r := ask(t, "udp", addr, question("a.example.test.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("want the good upstream's answer, got %v", r)
	}
	select {
	case <-slowGot:
	default:
		t.Fatal("the slow upstream was never tried: failover order broken")
	}
	// Each failed try starts a health probe; neither upstream answers it,
	// so both are marked down, and the next query goes straight to the
	// good one without waiting for the slow one again.
	events.Wait(t, "upstream down")
	events.Wait(t, "upstream down")
	for len(slowGot) > 0 {
		<-slowGot // the probe's query
	}
	r = ask(t, "udp", addr, question("b.example.test.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("second query: %v", r)
	}
	select {
	case <-slowGot:
		t.Error("a downed upstream was tried first again")
	default:
	}
}

// TestTimeoutCountsOnlyWhenTheUpstreamHadItsTime: an upstream that lets a
// try run out has failed (and, failing its health probe, is marked down),
// even when the query's deadline equals the per-try timeout (as config
// allows); one whose try the query's deadline cut short has not.
func TestTimeoutCountsOnlyWhenTheUpstreamHadItsTime(t *testing.T) {
	t.Run("deadline equals timeout", func(t *testing.T) {
		silent, _ := dnstest.Blackhole(t)
		good := dnstest.Start(t, dnstest.AnswerA("192.0.2.7", 60))
		events := dnstest.NewLog()
		s, addr := startProxy(t, func(c *Config) {
			c.Timeout, c.Deadline = 300*time.Millisecond, 300*time.Millisecond
			c.Cache.Size = 0
			c.Logger = events.Logger()
		}, silent, good.Addr)
		ask(t, "udp", addr, question("a.example.test.", dns.TypeA)) // the silent one's try takes the whole deadline
		if !s.Upstreams()[0].Failing {
			t.Error("an upstream that never answered within its whole timeout has not failed")
		}
		events.Wait(t, "upstream down")
	})
	t.Run("try cut short by the deadline", func(t *testing.T) {
		first, _ := dnstest.Blackhole(t)
		second, secondGot := dnstest.Blackhole(t)
		s, addr := startProxy(t, func(c *Config) {
			c.Timeout, c.Deadline = 300*time.Millisecond, 400*time.Millisecond
			c.Cache.Size = 0
		}, first, second)
		ask(t, "udp", addr, question("a.example.test.", dns.TypeA))
		<-secondGot // tried, with at most 100ms of the 300ms timeout left
		ups := s.Upstreams()
		if !ups[0].Failing {
			t.Error("the first upstream timed out with its whole timeout and has not failed")
		}
		if ups[1].Failing || ups[1].Probing || ups[1].Down {
			t.Error("the second upstream, whose try the query's deadline cut to a third, counts as failing")
		}
	})
}

func TestParallelFirstGoodAnswerWins(t *testing.T) {
	slow, _ := dnstest.Blackhole(t)
	failing := dnstest.Start(t, answerRcode(dns.RcodeServerFailure, nil))
	good := dnstest.Start(t, dnstest.AnswerA("192.0.2.9", 60))
	_, addr := startProxy(t, func(c *Config) {
		c.Strategy = "parallel"
		c.Timeout = 2 * time.Second
		c.Deadline = 2 * time.Second
		c.Cache.Size = 0
	}, slow, failing.Addr, good.Addr)

	start := time.Now()
	r := ask(t, "udp", addr, question("p.example.test.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("want the good answer, not the SERVFAIL or a timeout: %v", r)
	}
	// The slow upstream never answers; a parallel query must not wait for
	// it. (Not a speed target: it would take the full 2s timeout otherwise.)
	if d := time.Since(start); d >= 2*time.Second {
		t.Errorf("parallel query took %v: it waited for the silent upstream", d)
	}
	// The SERVFAIL may or may not have reached the failing upstream before
	// the race was won; the good one was asked exactly once.
	if failing.Queries() > 1 || good.Queries() != 1 {
		t.Errorf("each upstream should be asked at most once: failing %d, good %d", failing.Queries(), good.Queries())
	}
}

func TestRandomStrategyUsesEveryUpstream(t *testing.T) {
	a := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	b := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
	_, addr := startProxy(t, func(c *Config) { c.Strategy = "random"; c.Cache.Size = 0 }, a.Addr, b.Addr)
	for range 64 {
		ask(t, "udp", addr, question("r.example.test.", dns.TypeA))
	}
	// The chance that 64 fair picks all land on one side is 2^-63.
	if a.Queries() == 0 || b.Queries() == 0 {
		t.Errorf("random strategy used only one upstream: %d and %d", a.Queries(), b.Queries())
	}
}

func TestFailoverRcodes(t *testing.T) {
	bogus := func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeServerFailure)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "bad sig"})
		w.WriteMsg(m)
	}
	tests := []struct {
		name       string
		first      func(dns.ResponseWriter, *dns.Msg)
		wantRcode  int
		wantSecond int
	}{
		{"servfail goes on to the next", answerRcode(dns.RcodeServerFailure, nil), dns.RcodeSuccess, 1},
		{"refused goes on to the next", answerRcode(dns.RcodeRefused, nil), dns.RcodeSuccess, 1},
		{"nxdomain is final", answerRcode(dns.RcodeNameError, testSOA(60, 60)), dns.RcodeNameError, 0},
		{"dnssec servfail is final", bogus, dns.RcodeServerFailure, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := dnstest.Start(t, tt.first)
			second := dnstest.Start(t, dnstest.AnswerA("192.0.2.2", 60))
			_, addr := startProxy(t, nil, first.Addr, second.Addr)
			m := question("f.example.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			r := ask(t, "udp", addr, m)
			if r.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if n := second.Queries(); n != tt.wantSecond {
				t.Errorf("second upstream asked %d times, want %d", n, tt.wantSecond)
			}
		})
	}
	t.Run("the last failure goes to the client when all fail", func(t *testing.T) {
		a := dnstest.Start(t, answerRcode(dns.RcodeServerFailure, nil))
		b := dnstest.Start(t, answerRcode(dns.RcodeRefused, nil))
		_, addr := startProxy(t, nil, a.Addr, b.Addr)
		if r := ask(t, "udp", addr, question("f.example.test.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
			t.Errorf("rcode = %s, want the last upstream's REFUSED", dns.RcodeToString[r.Rcode])
		}
	})
}

func TestNoUpstreamAnsweredGivesSERVFAILWithEDE(t *testing.T) {
	refusing := dnstest.DeadAddr(t)
	silent, _ := dnstest.Blackhole(t)
	tests := []struct {
		name     string
		ups      []string
		wantCode uint16
		wantText []string
	}{
		{"connection refused", []string{refusing}, dns.ExtendedErrorCodeNetworkError, []string{refusing, "refused"}},
		{"all timed out", []string{silent}, dns.ExtendedErrorCodeNoReachableAuthority, []string{silent, "timed out"}},
		{"mixed", []string{refusing, silent}, dns.ExtendedErrorCodeNetworkError, []string{refusing, silent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &recordingObserver{}
			_, addr := startProxy(t, func(c *Config) {
				c.Timeout = 100 * time.Millisecond
				c.Deadline = time.Second
				c.Observer = obs
			}, tt.ups...)
			m := question("gone.example.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			r := ask(t, "udp", addr, m)
			if r.Rcode != dns.RcodeServerFailure {
				t.Fatalf("rcode = %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
			}
			ede := edeOf(r)
			if len(ede) != 1 || ede[0].InfoCode != tt.wantCode {
				t.Fatalf("EDE = %v, want code %d", ede, tt.wantCode)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(ede[0].ExtraText, want) {
					t.Errorf("EDE text %q does not mention %q", ede[0].ExtraText, want)
				}
			}
			f := obs.failures()
			if len(f) != 1 || !errors.Is(f[0].Err, ErrNoUpstream) || f[0].Rcode != dns.RcodeServerFailure {
				t.Errorf("observer got %+v, want one SERVFAIL failure with ErrNoUpstream", f)
			}
			// Not cached: the next query tries the upstreams again.
			if r := ask(t, "udp", addr, m); len(edeOf(r)) != 1 {
				t.Errorf("second answer lost its EDE: %v", r)
			}
		})
	}
	t.Run("no EDNS0 from the client, no EDE", func(t *testing.T) {
		_, addr := startProxy(t, nil, refusing)
		r := ask(t, "udp", addr, question("gone.example.test.", dns.TypeA))
		if r.Rcode != dns.RcodeServerFailure || r.IsEdns0() != nil {
			t.Errorf("want a plain SERVFAIL, got %v", r)
		}
	})
}

func TestEDNSForwardedWithClampedSize(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		o := newOPT(true)
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708aabbccddeeff0011"})
		m.Extra = append(m.Extra, o)
		w.WriteMsg(m)
	})
	_, addr := startProxy(t, nil, up.Addr)
	m := question("e.example.test.", dns.TypeA)
	m.SetEdns0(4096, true)
	m.CheckingDisabled = true
	m.IsEdns0().Option = append(m.IsEdns0().Option,
		&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
		&dns.EDNS0_NSID{Code: dns.EDNS0NSID})
	r := ask(t, "udp", addr, m)

	q := up.LastQuery()
	opt := q.IsEdns0()
	if opt == nil {
		t.Fatal("upstream got no EDNS0")
	}
	if opt.UDPSize() != 1232 || !opt.Do() || !q.CheckingDisabled {
		t.Errorf("upstream got size %d DO=%v CD=%v, want 1232, DO and CD kept", opt.UDPSize(), opt.Do(), q.CheckingDisabled)
	}
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0COOKIE {
			t.Error("the client's cookie was forwarded: cookies are hop-by-hop (RFC 7873)")
		}
	}
	if len(opt.Option) != 1 || opt.Option[0].Option() != dns.EDNS0NSID {
		t.Errorf("upstream options = %v, want NSID kept", opt.Option)
	}
	ropt := r.IsEdns0()
	if ropt == nil || len(ropt.Option) != 0 || !ropt.Do() {
		t.Errorf("client got OPT %v, want DO and no upstream cookie", ropt)
	}
}
