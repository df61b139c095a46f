package main

import (
	"crypto/tls"
	"testing"

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
