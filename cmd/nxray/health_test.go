package main

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nxray/nxray/internal/dnstest"
)

// nxray health finds a running serve through the same configuration file
// and answers 0; anything else is 1 with the reason on one line.
func TestHealth(t *testing.T) {
	up := fixedA(t, "192.0.2.1")
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	os.WriteFile(cfgFile, []byte("listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nupstreams: [\""+up+"\"]\n"+
		"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"), 0o644)
	r, started := startServe(t, cfgFile)
	page, err := url.Parse(started.Status)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(page.Host)
	dnsAddr, free := started.udp(), dnstest.DeadAddr(t)

	tests := []struct {
		name  string
		args  []string
		token string // NXRAY_HTTP_TOKEN, which a non-loopback http needs
		code  int
		want  string // in stdout when code is 0, else in stderr
	}{
		{"status page", []string{"--http", page.Host}, "", 0, "ok: http://" + page.Host + "/healthz"},
		{"unspecified is loopback", []string{"--http", "0.0.0.0:" + port}, "t0ken", 0, "ok: http://127.0.0.1:" + port + "/healthz"},
		{"status page and dns", []string{"--http", page.Host, "--dns", "--listen", dnsAddr}, "", 0, "ok: dns " + dnsAddr},
		{"dns alone", []string{"--http", "", "--dns", "--listen", dnsAddr}, "", 0, "ok: dns " + dnsAddr},
		{"nothing listens", []string{"--http", free}, "", 1, "http://" + free + "/healthz: dial tcp " + free},
		{"no dns answer", []string{"--http", "", "--dns", "--listen", free}, "", 1, "dns " + free},
		{"page off", []string{"--http", ""}, "", 1, "the status page is off"},
		{"port 0", []string{"--http", "127.0.0.1:0"}, "", 1, "port 0"},
		{"bad address", []string{"--http", "nonsense"}, "", 1, `address "nonsense": not an ip:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NXRAY_HTTP_TOKEN", tt.token)
			code, out, errs := runOut(t, append([]string{"health", "--config", cfgFile}, tt.args...)...)
			got := out
			if tt.code != 0 {
				got = errs
			}
			if code != tt.code || !strings.Contains(got, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, tt.code, tt.want)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr %q: want one line", errs)
			}
		})
	}
	// Settings health does not use cannot fail it: an upstream serve would
	// refuse (here not an address at all) is serve's business.
	t.Run("other settings", func(t *testing.T) {
		t.Setenv("NXRAY_UPSTREAMS", "not-an-address")
		code, out, errs := runOut(t, "health", "--config", cfgFile, "--http", page.Host)
		if code != 0 {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0", code, out, errs)
		}
	})
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
