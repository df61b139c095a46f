package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// fakeAnnotator explains every failure with code and text, or waits for
// ready before it does.
type fakeAnnotator struct {
	code  uint16
	text  string
	known bool
	ready chan struct{} // Wait returns the annotation once closed
}

func (a *fakeAnnotator) Annotation(string, uint16, int) (uint16, string, bool) {
	return a.code, a.text, a.known
}

func (a *fakeAnnotator) Wait(ctx context.Context, _ string, _ uint16, _ int) (uint16, string, bool) {
	if a.known {
		return a.code, a.text, true
	}
	select {
	case <-a.ready:
		return a.code, a.text, true
	case <-ctx.Done():
		return 0, "", false
	}
}

func servfailWithEDE(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg).SetRcode(r, dns.RcodeServerFailure)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeDNSBogus, ExtraText: "bad sig"})
	w.WriteMsg(m)
}

func edns(name string, size uint16) *dns.Msg {
	m := question(name, dns.TypeA)
	m.SetEdns0(size, false)
	return m
}

func TestUpstreamEDEPassesThroughAttributed(t *testing.T) {
	up := dnstest.Start(t, servfailWithEDE)
	_, addr := startProxy(t, func(c *Config) { c.FailoverRcodes = nil }, up.Addr)
	for _, from := range []string{"upstream", "cache"} {
		r := ask(t, "udp", addr, edns("bogus.example.test.", 1232))
		ede := edeOf(r)
		if len(ede) != 1 || ede[0].InfoCode != dns.ExtendedErrorCodeDNSBogus || ede[0].ExtraText != "upstream "+up.Addr+": bad sig" {
			t.Errorf("from the %s: EDE %v, want code 6 attributed to %s", from, ede, up.Addr)
		}
	}
	if up.Queries() != 1 {
		t.Errorf("upstream saw %d queries, want 1 (the second from the cache)", up.Queries())
	}
	if r := ask(t, "udp", addr, question("bogus.example.test.", dns.TypeA)); r.IsEdns0() != nil {
		t.Errorf("a client without EDNS0 got an OPT record: %v", r)
	}
}

func TestAnnotation(t *testing.T) {
	nx := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(60, 60)))
	ok := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	ann := &fakeAnnotator{code: dns.ExtendedErrorCodeNoReachableAuthority, text: "nxray: lame_delegation: the parent lists a server that refuses", known: true}
	_, addr := startProxy(t, func(c *Config) { c.Annotator = ann }, nx.Addr)
	for _, from := range []string{"upstream", "cache"} {
		ede := edeOf(ask(t, "udp", addr, edns("gone.example.test.", 1232)))
		if len(ede) != 1 || ede[0].InfoCode != ann.code || ede[0].ExtraText != ann.text {
			t.Errorf("from the %s: EDE %v, want nxray's explanation", from, ede)
		}
	}
	if r := ask(t, "udp", addr, question("gone.example.test.", dns.TypeA)); r.IsEdns0() != nil {
		t.Errorf("no EDNS0 from the client, yet an OPT came back: %v", r)
	}
	_, okAddr := startProxy(t, func(c *Config) { c.Annotator = ann }, ok.Addr)
	if ede := edeOf(ask(t, "udp", okAddr, edns("fine.example.test.", 1232))); len(ede) != 0 {
		t.Errorf("a NOERROR answer was annotated: %v", ede)
	}
}

func TestUpstreamEDEComesFirst(t *testing.T) {
	up := dnstest.Start(t, servfailWithEDE)
	ann := &fakeAnnotator{code: dns.ExtendedErrorCodeDNSKEYMissing, text: "nxray: dnssec_bogus: DS matches no DNSKEY", known: true}
	_, addr := startProxy(t, func(c *Config) { c.FailoverRcodes = nil; c.Annotator = ann }, up.Addr)
	ede := edeOf(ask(t, "udp", addr, edns("bogus.example.test.", 1232)))
	if len(ede) != 2 || ede[0].InfoCode != dns.ExtendedErrorCodeDNSBogus || ede[1].InfoCode != dns.ExtendedErrorCodeDNSKEYMissing {
		t.Errorf("EDE %v, want the upstream's 6 then nxray's 9", ede)
	}
}

func TestLongAnnotationIsCutToFit(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(60, 60)))
	ann := &fakeAnnotator{code: 0, text: "nxray: nxdomain_confirmed: " + strings.Repeat("é long summary ", 400), known: true}
	_, addr := startProxy(t, func(c *Config) { c.Annotator = ann }, up.Addr)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, UDPSize: 512}
	r, _, err := c.Exchange(edns("gone.example.test.", 512), addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Ns) != 1 {
		t.Fatalf("answer truncated (TC=%v) or lost its SOA: %v", r.Truncated, r)
	}
	r.Compress = true // as it came on the wire
	if r.Len() > 512 {
		t.Errorf("answer is %d bytes for a 512-byte client", r.Len())
	}
	ede := edeOf(r)
	if len(ede) != 1 || !strings.HasPrefix(ede[0].ExtraText, "nxray: nxdomain_confirmed: ") {
		t.Fatalf("EDE %v", ede)
	}
	if !strings.HasPrefix(ann.text, ede[0].ExtraText) {
		t.Error("the cut text is not a prefix of the summary (split inside a UTF-8 sequence?)")
	}
}

func TestAnnotateWait(t *testing.T) {
	up := dnstest.Start(t, answerRcode(dns.RcodeNameError, testSOA(60, 60)))
	t.Run("the explanation arrives in time", func(t *testing.T) {
		ann := &fakeAnnotator{code: 0, text: "nxray: nxdomain_confirmed: gone", ready: make(chan struct{})}
		close(ann.ready)
		_, addr := startProxy(t, func(c *Config) { c.Annotator = ann; c.AnnotateWait = 2 * time.Second }, up.Addr)
		if ede := edeOf(ask(t, "udp", addr, edns("first.example.test.", 1232))); len(ede) != 1 {
			t.Errorf("the first answer carries no explanation: %v", ede)
		}
	})
	t.Run("the diagnosis hangs", func(t *testing.T) {
		ann := &fakeAnnotator{ready: make(chan struct{})} // never ready
		_, addr := startProxy(t, func(c *Config) { c.Annotator = ann; c.AnnotateWait = 200 * time.Millisecond }, up.Addr)
		start := time.Now()
		r := ask(t, "udp", addr, edns("hang.example.test.", 1232))
		if r.Rcode != dns.RcodeNameError || len(edeOf(r)) != 0 {
			t.Errorf("answer %v", r)
		}
		// Bounded by the wait, not by the diagnosis (which never ends) nor
		// the 3s query deadline.
		if d := time.Since(start); d >= 3*time.Second {
			t.Errorf("the answer took %v: the wait is not bounded", d)
		}
	})
}
