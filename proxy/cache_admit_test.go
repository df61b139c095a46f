package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// Which answers the cache admits and keeps: negative answers apart, so that
// a flood of names asked once does not push out the names clients ask.

// A random-subdomain flood does not push the answers that exist out of the
// cache: negative answers are kept apart, in a part of their own. Once that
// part is full of live answers, a negative answer is cached the second time
// it is asked, so the flood's names, asked once each, do not push out one
// that clients keep asking for.
func TestFloodKeepsAnswersCached(t *testing.T) {
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if strings.HasPrefix(r.Question[0].Name, "www") {
			dnstest.AnswerA("192.0.2.1", 300)(w, r)
		} else {
			answerRcode(dns.RcodeNameError, testSOA(3600, 300))(w, r)
		}
	})
	s, addr := startProxy(t, func(c *Config) { c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	const names, flood = 20, 200
	ask := func(format string, from, to int, rcode int) {
		t.Helper()
		for i := from; i < to; i++ {
			if r := ask(t, "udp", addr, question(fmt.Sprintf(format, i), dns.TypeA)); r.Rcode != rcode {
				t.Fatalf("%s: %s, want %s", fmt.Sprintf(format, i), dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
			}
		}
	}
	upstreamFor := func(f func()) int {
		t.Helper()
		before := up.Queries()
		f()
		return up.Queries() - before
	}
	ask("www%d.example.test.", 0, names, dns.RcodeSuccess)
	if n := upstreamFor(func() { ask("rnd%d.example.test.", 0, 10, dns.RcodeNameError) }); n != 10 {
		t.Fatalf("the first 10 flood names: %d upstream queries, want 10", n)
	}
	// The negative part is full of live answers: a name asked once more is
	// not cached the first time, and is the second.
	if n := upstreamFor(func() {
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
		ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError)
	}); n != 2 {
		t.Errorf("a negative answer asked three times with the negative part full: %d upstream queries, want 2", n)
	}
	ask("rnd%d.example.test.", 10, flood, dns.RcodeNameError)
	if n := upstreamFor(func() { ask("www%d.example.test.", 0, names, dns.RcodeSuccess) }); n != 0 {
		t.Errorf("after a flood of %d names that do not exist, %d of %d cached answers had to be asked again", flood, n, names)
	}
	if n := upstreamFor(func() { ask("wpad%d.example.test.", 0, 1, dns.RcodeNameError) }); n != 0 {
		t.Errorf("after the flood, the negative answer asked again had to be asked upstream: %d queries, want 0", n)
	}
	// A flood name asked a second time is let in, and then cached.
	if n := upstreamFor(func() {
		ask("rnd%d.example.test.", flood-1, flood, dns.RcodeNameError)
		ask("rnd%d.example.test.", flood-1, flood, dns.RcodeNameError)
	}); n != 1 {
		t.Errorf("the flood's last name, asked twice more: %d upstream queries, want 1", n)
	}
	st := s.Stats()
	if st.CacheEntries != names+10 {
		t.Errorf("%d entries cached, want %d answers and 10 negative ones", st.CacheEntries, names)
	}
	if want := uint64(1 + flood - 10); st.CacheSkipped != want {
		t.Errorf("CacheSkipped = %d, want %d (wpad's first answer and the flood's names past the 10th)", st.CacheSkipped, want)
	}
}

// A name's types are told apart by the doorkeeper: a client asking AAAA and
// HTTPS in turn, both negative, gets each cached on its second ask.
func TestNegativeTypesAdmittedApart(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(3600, 300)))
	_, addr := startProxy(t, func(c *Config) { c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	for i := range 10 { // the negative part, full of live answers
		ask(t, "udp", addr, question(fmt.Sprintf("rnd%d.example.test.", i), dns.TypeA))
	}
	for range 2 {
		ask(t, "udp", addr, question("wpad.example.test.", dns.TypeAAAA))
		ask(t, "udp", addr, question("wpad.example.test.", dns.TypeHTTPS))
	}
	before := up.Queries()
	ask(t, "udp", addr, question("wpad.example.test.", dns.TypeAAAA))
	ask(t, "udp", addr, question("wpad.example.test.", dns.TypeHTTPS))
	if n := up.Queries() - before; n != 0 {
		t.Errorf("AAAA and HTTPS asked in turn, twice each, then again: %d of 2 went upstream, want 0", n)
	}
}

// While the negative part is full only of answers that have expired, a
// negative answer is cached the first time: nothing live would be lost.
func TestNegativeCachedFirstTimeWhenOnlyDeadAnswersGo(t *testing.T) {
	clk := dnstest.NewClock()
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(3600, 60)))
	s, addr := startProxy(t, func(c *Config) { c.Now = clk.Now; c.Cache.Size, c.Cache.NegativeSize = 40, 10 }, up.Addr)
	for i := range 10 {
		ask(t, "udp", addr, question(fmt.Sprintf("old%d.example.test.", i), dns.TypeA))
	}
	clk.Advance(61 * time.Second)
	ask(t, "udp", addr, question("new.example.test.", dns.TypeA))
	before := up.Queries()
	ask(t, "udp", addr, question("new.example.test.", dns.TypeA))
	if n := up.Queries() - before; n != 0 {
		t.Errorf("the second ask of a name cached over expired answers went upstream (%d queries)", n)
	}
	if st := s.Stats(); st.CacheSkipped != 0 {
		t.Errorf("CacheSkipped = %d, want 0", st.CacheSkipped)
	}
}
