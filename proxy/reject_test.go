package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// What the proxy drops or refuses: answers that do not match their query,
// malformed queries, and clients outside the ACL.

func TestMismatchedAnswersAreDropped(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			wrongID := new(dns.Msg).SetReply(q)
			wrongID.Id = q.Id + 1
			wrongQ := new(dns.Msg).SetReply(q)
			wrongQ.Question[0].Name = "evil.test."
			wrongQ.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "evil.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(6, 6, 6, 6)}}
			right := new(dns.Msg).SetReply(q)
			right.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 3)}}
			for _, m := range []*dns.Msg{wrongID, wrongQ} {
				b, _ := m.Pack()
				pc.WriteTo(b, from)
			}
			pc.WriteTo([]byte{1, 2, 3}, from) // garbage
			b, _ := right.Pack()
			pc.WriteTo(b, from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	s, addr := startProxy(t, nil, pc.LocalAddr().String())
	r := ask(t, "udp", addr, question("m.example.test.", dns.TypeA))
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.3" {
		t.Fatalf("got %v, want the matching answer 192.0.2.3", r)
	}
	if got := s.Stats().Mismatched; got != 3 {
		t.Errorf("mismatched = %d, want 3 (wrong ID, wrong question, garbage)", got)
	}
}

func TestMalformedPacketsGetFORMERROrNothing(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	_, addr := startProxy(t, nil, up.Addr)
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	two := question("a.example.test.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	twoWire, _ := two.Pack()
	cut, _ := question("a.example.test.", dns.TypeA).Pack()
	for _, pkt := range [][]byte{
		{0xAB}, // shorter than a header
		{0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63}, // question runs off the end
		twoWire,          // two questions
		cut[:len(cut)-2], // question cut short
		append([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12}, 0, 1, 0, 1), // pointer loop
	} {
		conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		if err != nil {
			continue // dropped: fine
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatalf("reply to %x is not a DNS message: %v", pkt, err)
		}
		if r.Rcode != dns.RcodeFormatError {
			t.Errorf("reply to %x has rcode %s, want FORMERR", pkt, dns.RcodeToString[r.Rcode])
		}
	}
	// The server still answers good queries.
	if r := ask(t, "udp", addr, question("ok.example.test.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after malformed packets: %v", r)
	}
	if up.Queries() != 1 {
		t.Errorf("upstream saw %d queries, want only the good one", up.Queries())
	}
}

func TestACLRefusesOtherClients(t *testing.T) {
	up := dnstest.Start(t, dnstest.AnswerA("192.0.2.1", 60))
	obs := &recordingObserver{}
	s, addr := startProxy(t, func(c *Config) {
		c.ACL = nil
		c.Observer = obs
	}, up.Addr)
	for _, network := range []string{"udp", "tcp"} {
		if r := ask(t, network, addr, question("a.example.test.", dns.TypeA)); r.Rcode != dns.RcodeRefused {
			t.Errorf("%s: rcode = %s, want REFUSED", network, dns.RcodeToString[r.Rcode])
		}
	}
	if up.Queries() != 0 {
		t.Error("a refused client's query reached the upstream")
	}
	if got := s.Stats().ACLRefused; got != 2 {
		t.Errorf("ACLRefused = %d, want 2", got)
	}
	if len(obs.failures()) != 0 {
		t.Error("ACL refusals went to the observer: they are nxray's policy, nothing to diagnose")
	}
}
