package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nxray/nxray/internal/dnstest"
)

func TestParseEncryptedUpstream(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Upstream
	}{
		{"tls://192.0.2.1", Upstream{Net: "tls", Addr: "192.0.2.1:853"}},
		{"tls://192.0.2.1:8853#dns.example", Upstream{Net: "tls", Addr: "192.0.2.1:8853", ServerName: "dns.example"}},
		{"tls://[2001:db8::1]#dns.example", Upstream{Net: "tls", Addr: "[2001:db8::1]:853", ServerName: "dns.example"}},
		{"tls://Dns.Example.", Upstream{Net: "tls", Host: "dns.example:853", ServerName: "dns.example"}},
		{"https://192.0.2.1/dns-query#dns.example", Upstream{Net: "https", Addr: "192.0.2.1:443", Path: "/dns-query", ServerName: "dns.example"}},
		{"https://dns.example:8443/q", Upstream{Net: "https", Host: "dns.example:8443", Path: "/q", ServerName: "dns.example"}},
		{"https://192.0.2.1/dns-query{?dns}#dns.example", Upstream{Net: "https", Addr: "192.0.2.1:443", Path: "/dns-query", ServerName: "dns.example", GET: true}},
	} {
		got, err := ParseUpstream(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseUpstream(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"https://192.0.2.1", "path"},
		{"https://192.0.2.1/", "path"},
		{"tls://192.0.2.1/dns-query", "no path"},
		{"tls://192.0.2.1:0", "port"},
		{"tls://192.0.2.1:99999", "port"},
		{"https://192.0.2.1/q?x=1", "query string"},
		{"tls://user@192.0.2.1", "user"},
		{"tls://192.0.2.1#bad/name", "certificate"},
		{"tls://", "no host"},
		{"tls://192.0.2.1{?dns}", "https:// only"},
	} {
		if _, err := ParseUpstream(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseUpstream(%q): %v, want an error about %q", tt.in, err, tt.want)
		}
	}
}

// TestNamedUpstreamsResolveThroughBootstrap: a named tls:// or https://
// upstream (in upstreams, alternates or a forward zone) is looked up
// through the bootstrap resolvers, once per name.
func TestNamedUpstreamsResolveThroughBootstrap(t *testing.T) {
	boot := dnstest.Start(t, func(w dns.ResponseWriter, q *dns.Msg) {
		r := new(dns.Msg).SetReply(q)
		if q.Question[0].Qtype == dns.TypeA && q.Question[0].Name == "dns.test." {
			rr, _ := dns.NewRR("dns.test. 60 IN A 127.0.0.77")
			r.Answer = append(r.Answer, rr)
		}
		w.WriteMsg(r)
	})
	cfg, err := load(t, "--bootstrap", boot.Addr, "--upstream", "tls://dns.test", "--alternate", "https://dns.test/dns-query",
		"--forward-zone", "corp.test=tls://dns.test:8853")
	if err != nil {
		t.Fatal(err)
	}
	want := "tls://127.0.0.77:853#dns.test"
	if got := cfg.Parsed.Upstreams[0].String(); got != want {
		t.Errorf("upstream %s, want %s", got, want)
	}
	if got := cfg.Parsed.Alternates[0].String(); got != "https://127.0.0.77:443/dns-query#dns.test" {
		t.Errorf("alternate %s", got)
	}
	if got := cfg.Parsed.ForwardZones[0].Upstreams[0].Addr; got != "127.0.0.77:8853" {
		t.Errorf("forward zone upstream %s", got)
	}
	if n := boot.Queries(); n != 1 {
		t.Errorf("bootstrap asked %d times, want once", n)
	}

	_, err = load(t, "--bootstrap", boot.Addr, "--upstream", "tls://nothere.test")
	if err == nil || !strings.Contains(err.Error(), "upstreams") || !strings.Contains(err.Error(), "nothere.test") {
		t.Errorf("a name without address: %v", err)
	}
	dead := dnstest.DeadAddr(t)
	_, err = load(t, "--bootstrap", dead, "--upstream", "tls://dns.test")
	if err == nil || !strings.Contains(err.Error(), "bootstrap") {
		t.Errorf("a dead bootstrap: %v", err)
	}
	_, err = load(t, "--bootstrap", "tls://127.0.0.1", "--upstream", "tls://dns.test")
	if err == nil || !strings.Contains(err.Error(), "bootstrap") || !strings.Contains(err.Error(), "plain") {
		t.Errorf("an encrypted bootstrap: %v", err)
	}
}

func TestTLSCAFile(t *testing.T) {
	dir := t.TempDir()
	ca := dnstest.NewCA(t)
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, ca.PEM, 0o644)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o644)

	cfg, err := load(t, "--tls-ca-file", good, "--upstream", "tls://127.0.0.1:8853#dns.test")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Parsed.TLS == nil || cfg.Parsed.TLS.RootCAs == nil {
		t.Fatal("no roots")
	}
	t.Setenv("NXRAY_TLS_CA_FILE", good)
	if cfg, err := load(t); err != nil || cfg.Parsed.TLS == nil {
		t.Errorf("NXRAY_TLS_CA_FILE: %v", err)
	}
	for _, tt := range []struct{ file, want string }{
		{bad, "no PEM certificate"},
		{filepath.Join(dir, "missing.pem"), "reading"},
	} {
		_, err := load(t, "--tls-ca-file", tt.file)
		if err == nil || !strings.Contains(err.Error(), "tls_ca_file") || !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.file, err)
		}
	}
}

// TestBootstrapTimesOut: a bootstrap resolver that never answers costs a
// name at most lookupTimeout, and the error says the lookup timed out.
func TestBootstrapTimesOut(t *testing.T) {
	silent, _ := dnstest.Blackhole(t)
	start := time.Now()
	_, err := load(t, "--bootstrap", silent, "--upstream", "tls://dns.test")
	if err == nil || !strings.Contains(err.Error(), "dns.test") || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a silent bootstrap: %v", err)
	}
	if d := time.Since(start); d > lookupTimeout+time.Second {
		t.Errorf("took %v, want at most %v", d, lookupTimeout)
	}
}

// TestSystemBootstrapReadOnlyWhenNeeded: with no named upstream, a
// resolv.conf that cannot be read is no error, as before bootstrap.
func TestSystemBootstrapReadOnlyWhenNeeded(t *testing.T) {
	t.Setenv("NXRAY_RESOLV_CONF", filepath.Join(t.TempDir(), "missing"))
	fs := Flags("test")
	if err := fs.Parse([]string{"--upstream", "tls://127.0.0.1#dns.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(fs); err != nil {
		t.Errorf("%v", err)
	}
}
