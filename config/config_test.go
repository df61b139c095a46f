package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// load parses args as flags and loads, with a resolv.conf of our own so
// the machine's file never matters.
func load(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(rc, []byte("# test\nnameserver 127.0.0.53\noptions edns0\n"), 0o644)
	t.Setenv("NXRAY_RESOLV_CONF", rc)
	fs := Flags("test")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nxray.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Listen; len(got) != 1 || got[0] != "127.0.0.1:53" {
		t.Errorf("listen = %v", got)
	}
	if got := cfg.Parsed.Upstreams; len(got) != 1 || got[0].Addr != "127.0.0.53:53" {
		t.Errorf("system upstreams = %v, want the resolv.conf nameserver", got)
	}
	if cfg.Strategy != "failover" || cfg.Timeout != 2*time.Second || cfg.Cache.ServfailTTL != 5*time.Second {
		t.Errorf("defaults: strategy %s timeout %s servfail_ttl %s", cfg.Strategy, cfg.Timeout, cfg.Cache.ServfailTTL)
	}
	if len(cfg.Parsed.FailoverRcodes) != 2 || len(cfg.Parsed.ACL) != 6 {
		t.Errorf("failover rcodes %v, acl %v", cfg.Parsed.FailoverRcodes, cfg.Parsed.ACL)
	}
	if cfg.HTTP != "127.0.0.1:8053" || cfg.Annotate != "cached" || cfg.Log.Format != "text" {
		t.Errorf("http %q annotate %q log.format %q", cfg.HTTP, cfg.Annotate, cfg.Log.Format)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	file := writeFile(t, `
listen: ["127.0.0.1:5300"]
upstreams: ["192.0.2.1", "tcp://192.0.2.2:5353"]
strategy: parallel
timeout: 500ms
cache:
  size: 42
  negative_size: 9
  negative_max_ttl: 10m
log:
  level: debug
`)
	cfg, err := load(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Strategy != "parallel" || cfg.Timeout != 500*time.Millisecond || cfg.Cache.Size != 42 ||
		cfg.Cache.NegativeSize != 9 || cfg.Cache.NegativeMaxTTL != 10*time.Minute || cfg.Log.Level != "debug" {
		t.Errorf("file not applied: %+v", cfg)
	}
	want := []Upstream{{Net: "udp", Addr: "192.0.2.1:53"}, {Net: "tcp", Addr: "192.0.2.2:5353"}}
	if len(cfg.Parsed.Upstreams) != 2 || cfg.Parsed.Upstreams[0] != want[0] || cfg.Parsed.Upstreams[1] != want[1] {
		t.Errorf("upstreams = %v, want %v", cfg.Parsed.Upstreams, want)
	}

	t.Setenv("NXRAY_STRATEGY", "random")
	t.Setenv("NXRAY_CACHE_SIZE", "7")
	t.Setenv("NXRAY_UPSTREAMS", "192.0.2.9,192.0.2.10:5300")
	cfg, err = load(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Strategy != "random" || cfg.Cache.Size != 7 || len(cfg.Parsed.Upstreams) != 2 ||
		cfg.Parsed.Upstreams[1].Addr != "192.0.2.10:5300" {
		t.Errorf("environment does not beat the file: %s %d %v", cfg.Strategy, cfg.Cache.Size, cfg.Parsed.Upstreams)
	}

	cfg, err = load(t, "--config", file, "--strategy", "failover", "--upstream", "192.0.2.20", "--upstream", "192.0.2.21", "--cache-size", "0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Strategy != "failover" || cfg.Cache.Size != 0 || len(cfg.Parsed.Upstreams) != 2 ||
		cfg.Parsed.Upstreams[0].Addr != "192.0.2.20:53" {
		t.Errorf("flags do not beat the environment: %s %d %v", cfg.Strategy, cfg.Cache.Size, cfg.Parsed.Upstreams)
	}
	if cfg.Timeout != 500*time.Millisecond {
		t.Errorf("an unset flag overrode the file: timeout %s", cfg.Timeout)
	}
}

func TestErrorsNameKeyAndValue(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want []string
	}{
		{"unknown key", "upstream: [1.1.1.1]\n", nil, []string{"upstream"}},
		{"unknown nested key", "cache:\n  sise: 10\n", nil, []string{"sise"}},
		{"bad upstream", "upstreams: [dns.google]\n", nil, []string{"upstreams", "dns.google", "IP address"}},
		{"bad scheme", "upstreams: [\"quic://192.0.2.1\"]\n", nil, []string{"upstreams", "quic://192.0.2.1", "udp://", "tls://", "https://"}},
		{"https without path", "upstreams: [\"https://192.0.2.1\"]\n", nil, []string{"upstreams", "https://192.0.2.1", "path"}},
		{"bad strategy", "strategy: fastest\n", nil, []string{"strategy", "fastest", "failover"}},
		{"bad duration", "timeout: soon\n", nil, []string{"timeout", "soon"}},
		{"negative cache size", "cache:\n  size: -1\n", nil, []string{"cache.size", "-1"}},
		{"no room for negative answers", "cache:\n  negative_size: 0\n", nil, []string{"cache.negative_size", "0", "negative_max_ttl"}},
		{"bad acl", "acl: [\"10.0.0.0/33\"]\n", nil, []string{"acl", "10.0.0.0/33"}},
		{"bad listen", "listen: [\"localhost:53\"]\n", nil, []string{"listen", "localhost:53", "IP:port"}},
		{"bad rcode", "failover_rcodes: [SERVFAIL, OOPS]\n", nil, []string{"failover_rcodes", "OOPS"}},
		{"bad annotate", "annotate: later\n", nil, []string{"annotate", "later"}},
		{"bad log format", "log:\n  format: xml\n", nil, []string{"log.format", "xml"}},
		{"deadline under timeout", "timeout: 3s\ndeadline: 1s\n", nil, []string{"deadline", "1s"}},
		{"two problems at once", "strategy: x\nauth_port: 0\n", nil, []string{"strategy", "auth_port"}},
		{"loop to own listen address", "", []string{"--listen", "127.0.0.1:5353", "--upstream", "127.0.0.1:5353"},
			[]string{"127.0.0.1:5353", "loop"}},
		{"loop through wildcard listen", "", []string{"--listen", "0.0.0.0:53", "--upstream", "127.0.0.1"},
			[]string{"127.0.0.1:53", "loop"}},
		{"not yaml", "listen: [\n", nil, []string{"nxray.yaml"}},
		{"status page beyond loopback without a token", "http: 0.0.0.0:8053\n", nil, []string{"http_token", "0.0.0.0:8053"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			_, err := load(t, args...)
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	_, err := load(t, "--config", "/nonexistent/nxray.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/nxray.yaml") {
		t.Errorf("error = %v, want one naming the file", err)
	}
}

func TestSystemResolvers(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	os.WriteFile(rc, []byte("search lan\nnameserver 192.0.2.53\nnameserver ::1\nnameserver bogus\n"), 0o644)
	got, err := SystemResolvers(rc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr != "192.0.2.53:53" || got[1].Addr != "[::1]:53" {
		t.Errorf("got %v", got)
	}
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("search lan\n"), 0o644)
	if _, err := SystemResolvers(empty); err == nil || !strings.Contains(err.Error(), "no nameserver") {
		t.Errorf("empty resolv.conf: err = %v", err)
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in   string
		want Upstream
	}{
		{"192.0.2.1", Upstream{Net: "udp", Addr: "192.0.2.1:53"}},
		{"192.0.2.1:5353", Upstream{Net: "udp", Addr: "192.0.2.1:5353"}},
		{"udp://192.0.2.1:5353", Upstream{Net: "udp", Addr: "192.0.2.1:5353"}},
		{"tcp://192.0.2.1", Upstream{Net: "tcp", Addr: "192.0.2.1:53"}},
		{"2001:db8::1", Upstream{Net: "udp", Addr: "[2001:db8::1]:53"}},
		{"[2001:db8::1]:5353", Upstream{Net: "udp", Addr: "[2001:db8::1]:5353"}},
	}
	for _, tt := range tests {
		got, err := ParseUpstream(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseUpstream(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "example.com", "192.0.2.1:0", "quic://192.0.2.1", "192.0.2.1:99999"} {
		if _, err := ParseUpstream(bad); err == nil {
			t.Errorf("ParseUpstream(%q) accepted", bad)
		}
	}
}

func TestErrInvalid(t *testing.T) {
	_, err := load(t, "--strategy", "nope")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("validation error %v is not ErrInvalid", err)
	}
}

// The shipped example must load as it is and say exactly the defaults.
func TestExampleFileIsTheDefaults(t *testing.T) {
	fromFile, err := load(t, "--config", "../nxray.example.yaml")
	if err != nil {
		t.Fatalf("nxray.example.yaml does not load: %v", err)
	}
	defaults, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	fromFile.ResolvConf = defaults.ResolvConf // each load writes its own
	if !reflect.DeepEqual(fromFile, defaults) {
		t.Errorf("example file differs from the defaults:\n file %+v\n default %+v", fromFile, defaults)
	}
}

func TestRootHints(t *testing.T) {
	cfg, err := load(t)
	if err != nil || len(cfg.Parsed.RootHints) != 13 {
		t.Fatalf("built-in root hints: %v %v", cfg.Parsed.RootHints, err)
	}
	cfg, err = load(t, "--root-hints", "127.0.0.10, 127.0.0.11")
	if err != nil || len(cfg.Parsed.RootHints) != 2 || cfg.Parsed.RootHints[1] != "127.0.0.11" {
		t.Errorf("IP list: %v %v", cfg.Parsed.RootHints, err)
	}
	file := filepath.Join(t.TempDir(), "named.root")
	os.WriteFile(file, []byte(".  3600000 NS A.ROOT-SERVERS.NET.\nA.ROOT-SERVERS.NET. 3600000 A 127.0.0.10\nA.ROOT-SERVERS.NET. 3600000 AAAA ::1\n"), 0o644)
	cfg, err = load(t, "--root-hints", file)
	if err != nil || len(cfg.Parsed.RootHints) != 2 || cfg.Parsed.RootHints[0] != "127.0.0.10" {
		t.Errorf("hints file: %v %v", cfg.Parsed.RootHints, err)
	}
	if _, err := load(t, "--root-hints", "a.root-servers.net"); err == nil || !strings.Contains(err.Error(), "root_hints") {
		t.Errorf("a name instead of an IP: %v", err)
	}
}

func TestTrustAnchors(t *testing.T) {
	cfg, err := load(t)
	if err != nil || len(cfg.Parsed.TrustAnchors) != 2 || cfg.Parsed.TrustAnchors[0].KeyTag != 20326 {
		t.Fatalf("built-in anchors: %v %v", cfg.Parsed.TrustAnchors, err)
	}
	file := filepath.Join(t.TempDir(), "anchors")
	os.WriteFile(file, []byte(". 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"+
		". 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n"), 0o644)
	cfg, err = load(t, "--trust-anchors", file)
	if err != nil || len(cfg.Parsed.TrustAnchors) != 2 || cfg.Parsed.TrustAnchors[1].DigestType != 2 {
		t.Errorf("anchors file: %v %v", cfg.Parsed.TrustAnchors, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("; nothing\n"), 0o644)
	if _, err := load(t, "--trust-anchors", empty); err == nil || !strings.Contains(err.Error(), "trust_anchors") {
		t.Errorf("empty anchors file: %v", err)
	}
}

// The status page may face the network only with a token, from the
// environment or a flag.
func TestHTTPToken(t *testing.T) {
	t.Setenv("NXRAY_HTTP_TOKEN", "from-env")
	cfg, err := load(t, "--http", "192.0.2.1:8053")
	if err != nil || cfg.HTTPToken != "from-env" {
		t.Fatalf("env token: %q %v", cfg.HTTPToken, err)
	}
	cfg, err = load(t, "--http", "192.0.2.1:8053", "--http-token", "from-flag")
	if err != nil || cfg.HTTPToken != "from-flag" {
		t.Fatalf("flag token: %q %v", cfg.HTTPToken, err)
	}
	t.Setenv("NXRAY_HTTP_TOKEN", "")
	if _, err := load(t, "--http", "127.0.0.1:9000"); err != nil {
		t.Errorf("loopback needs no token: %v", err)
	}
}

// Every flag (but --config) sets a key, so it shows up in flagKeys.
func TestEveryFlagHasAKey(t *testing.T) {
	Flags("test").VisitAll(func(f *pflag.Flag) {
		if _, ok := flagKeys[f.Name]; !ok && f.Name != "config" {
			t.Errorf("--%s is in Flags but not in flagKeys: it would never be applied", f.Name)
		}
	})
	for name := range flagKeys {
		if Flags("test").Lookup(name) == nil {
			t.Errorf("flagKeys has --%s, which Flags does not define", name)
		}
	}
}
