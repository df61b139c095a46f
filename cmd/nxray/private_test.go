package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// TestPrivateNameStaysPrivate: a failing name under a forward zone is
// forwarded to the zone's own upstream, and its diagnosis asks only that
// upstream: the default upstream, the public alternate and the root hint
// (servers that count every query) get nothing, and the verdict says where
// nxray looked. A public name's diagnosis, on the same nxray, reaches the
// alternate: the counts can tell.
func TestPrivateNameStaysPrivate(t *testing.T) {
	soa := func(zone string) dns.RR {
		rr, _ := dns.NewRR(zone + " 300 IN SOA ns1." + zone + " hostmaster." + zone + " 7 3600 600 86400 300")
		return rr
	}
	// The corp resolver knows corp.example.: NXDOMAIN under it, with the
	// zone's SOA; the apex exists.
	corp := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		if strings.EqualFold(r.Question[0].Name, "corp.example.") {
			m.Rcode = dns.RcodeSuccess
		}
		m.RecursionAvailable, m.Ns = true, []dns.RR{soa("corp.example.")}
		w.WriteMsg(m)
	})
	public := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		m.RecursionAvailable, m.Ns = true, []dns.RR{soa("example.")}
		w.WriteMsg(m)
	})
	alternate := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeNameError))
	})
	root := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeRefused))
	})
	rootIP, rootPort, _ := net.SplitHostPort(root.Addr)
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	text := "listen: [\"127.0.0.1:0\"]\nhttp: \"\"\nupstreams: [\"" + public.Addr + "\"]\n" +
		"forward_zones:\n  Corp.Example.: [\"" + corp.Addr + "\"]\n" +
		"alternates: [\"" + alternate.Addr + "\"]\nroot_hints: \"" + rootIP + "\"\nauth_port: " + rootPort + "\nlog:\n  format: json\n"
	if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r, started := startServe(t, cfgFile)
	// The start-up check asks each upstream one question: count from after it.
	r.waitFor(t, `"msg":"upstreams checked"`)
	corp0, public0 := corp.Queries(), public.Queries()
	if rc := ask(t, started.udp(), "gone.corp.example.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	line := r.waitFor(t, `"msg":"diagnosis"`)
	if corp.Queries()-corp0 < 2 || public.Queries() != public0 || alternate.Queries() != 0 || root.Queries() != 0 {
		t.Errorf("queries: corp's upstream %d (want the query and the diagnosis's), default upstream %d, alternate %d, root %d (want 0 each)",
			corp.Queries()-corp0, public.Queries()-public0, alternate.Queries(), root.Queries())
	}
	if !strings.Contains(line, "corp.example. is private: nxray asked only its resolvers ("+corp.Addr+")") {
		t.Errorf("the verdict does not say where nxray looked: %s", line)
	}

	if m := ask(t, started.udp(), "gone.public.example."); m.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN: %v", dns.RcodeToString[m.Rcode], m)
	}
	r.waitFor(t, `"msg":"diagnosis"`)
	if alternate.Queries() == 0 || root.Queries() == 0 {
		t.Errorf("a public name's diagnosis asked the alternate %d and the root %d times, want both", alternate.Queries(), root.Queries())
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
