package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"

	"github.com/nxray/nxray/config"
)

// TestEncryptedUpstreamsReachTheDiagnosis: the diagnosis names tls:// and
// https:// resolvers as configured (so that its Exchanger can reach them),
// plain ones by IP:port; explain asks a forward zone's name of the zone's
// first upstream.
func TestEncryptedUpstreamsReachTheDiagnosis(t *testing.T) {
	var cfg config.Config
	cfg.Parsed.Upstreams = []config.Upstream{{Net: "tls", Addr: "127.0.0.1:853", ServerName: "dns.test"}, {Net: "udp", Addr: "127.0.0.1:53"}}
	cfg.Parsed.ForwardZones = []config.ForwardZone{{Zone: "corp.test.", Upstreams: []config.Upstream{{Net: "https", Addr: "127.0.0.2:443", Path: "/dns-query"}}}}
	if got := addrs(cfg.Parsed.Upstreams); got[0] != "tls://127.0.0.1:853#dns.test" || got[1] != "127.0.0.1:53" {
		t.Errorf("addrs %v", got)
	}
	for name, want := range map[string]string{
		"www.corp.test.":    "https://127.0.0.2:443/dns-query",
		"www.example.test.": "tls://127.0.0.1:853#dns.test",
	} {
		if got := explainUpstream(cfg, name); got != want {
			t.Errorf("explain %s asks %s first, want %s", name, got, want)
		}
	}
	d := newDirect(cfg)
	defer d.Close()
}

// TestProxyGetsEncryptedUpstreams: the proxy's upstreams carry what the
// transports need: the certificate's name, the DoH path and method, and
// the roots of tls_ca_file.
func TestProxyGetsEncryptedUpstreams(t *testing.T) {
	var cfg config.Config
	cfg.Parsed.TLS = &tls.Config{}
	cfg.Parsed.Upstreams = []config.Upstream{{Net: "https", Addr: "127.0.0.1:443", ServerName: "dns.test", Path: "/q", GET: true}}
	cfg.Parsed.ForwardZones = []config.ForwardZone{{Zone: "corp.test.", Upstreams: []config.Upstream{{Net: "tls", Addr: "127.0.0.2:853"}}}}
	pc := proxyConfig(cfg, nil, nil, nil)
	u := pc.Upstreams[0]
	if u.Net != "https" || u.ServerName != "dns.test" || u.Path != "/q" || !u.GET || u.TLS != cfg.Parsed.TLS {
		t.Errorf("upstream %+v", u)
	}
	if z := pc.Zones[0].Upstreams[0]; z.Net != "tls" || z.TLS != cfg.Parsed.TLS {
		t.Errorf("zone upstream %+v", z)
	}
}

// TestServeOverTLS: nxray serve forwards to a DNS-over-TLS upstream whose
// certificate comes from the CA of tls_ca_file, and stops cleanly (the
// package's goleak check sees its connection gone).
func TestServeOverTLS(t *testing.T) {
	ca := dnstest.NewCA(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "dns.test")}})
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Serve(t, &dns.Server{Listener: ln, Net: "tcp-tls", Handler: dnstest.AnswerA("192.0.2.7", 60)})
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o644)
	cfgFile := filepath.Join(dir, "nxray.yaml")
	os.WriteFile(cfgFile, []byte("listen: [\"127.0.0.1:0\"]\nhttp: \"\"\nupstreams: [\"tls://"+ln.Addr().String()+"#dns.test\"]\n"+
		"tls_ca_file: \""+caFile+"\"\nalternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"), 0o644)
	r, started := startServe(t, cfgFile)
	if got := ask(t, started.udp(), "one.example.test.").Answer[0].(*dns.A).A.String(); got != "192.0.2.7" {
		t.Fatalf("answer %s, want 192.0.2.7", got)
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
