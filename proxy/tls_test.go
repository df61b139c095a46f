package proxy

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

// startDoTUpstream runs a DNS-over-TLS server on 127.0.0.1 with a leaf of
// ca for 127.0.0.1 and dns.test, answering every A question with
// 192.0.2.1.
func startDoTUpstream(t *testing.T, ca *dnstest.CA) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1", "dns.test")}})
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Serve(t, &dns.Server{Listener: ln, Net: "tcp-tls", Handler: dnstest.AnswerA("192.0.2.1", 60)})
	return ln.Addr().String()
}

// TestForwardOverTLS: a tls:// upstream answers through nxray; a
// certificate from a CA nxray does not trust, or for another name, gets
// the client SERVFAIL with an EDE that says so.
func TestForwardOverTLS(t *testing.T) {
	ca := dnstest.NewCA(t)
	addr := startDoTUpstream(t, ca)
	for _, tt := range []struct {
		name     string
		up       Upstream
		rcode    int
		wantText string
	}{
		{"trusted", Upstream{Net: "tls", Addr: addr, ServerName: "dns.test", TLS: ca.ClientConfig()}, dns.RcodeSuccess, ""},
		{"trusted by IP", Upstream{Net: "tls", Addr: addr, TLS: ca.ClientConfig()}, dns.RcodeSuccess, ""},
		{"unknown CA", Upstream{Net: "tls", Addr: addr, ServerName: "dns.test", TLS: dnstest.NewCA(t).ClientConfig()},
			dns.RcodeServerFailure, "certificate signed by unknown authority"},
		{"wrong name", Upstream{Net: "tls", Addr: addr, ServerName: "other.test", TLS: ca.ClientConfig()},
			dns.RcodeServerFailure, "not other.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, paddr := startProxy(t, func(c *Config) {
				c.Upstreams = []Upstream{tt.up}
				c.Timeout, c.Deadline = 2*time.Second, 3*time.Second
			})
			m := question("www.example.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			r := ask(t, "udp", paddr, m)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.wantText == "" {
				return
			}
			ede := edeOf(r)
			if len(ede) != 1 || !strings.Contains(ede[0].ExtraText, tt.wantText) || !strings.Contains(ede[0].ExtraText, "tls://"+addr) {
				t.Errorf("EDE %v, want text naming tls://%s and %q", ede, addr, tt.wantText)
			}
		})
	}
}
