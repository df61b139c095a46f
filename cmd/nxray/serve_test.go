package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/miekg/dns"
)

// A status page address in use names it and both ways out.
func TestStatusPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().(*net.TCPAddr)
	next := "127.0.0.1:" + strconv.Itoa(addr.Port+1)
	code, _, errs := runOut(t, "serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--alternate", "127.0.0.1:1",
		"--root-hints", "127.0.0.1", "--http", addr.String())
	want := "nxray: status page: " + addr.String() + " is in use; give another address with --http " + next +
		` or turn the page off with --http ""` + "\n"
	if code != 1 || errs != want {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errs, want)
	}
}

// logLine is the part of a JSON log line the reload test reads.
type logLine struct {
	Msg       string
	Changed   []string
	Upstreams []string
}

// untilReloaded reads log lines up to the "reloaded" one and returns them.
func (r *running) untilReloaded(t *testing.T) []logLine {
	t.Helper()
	var lines []logLine
	for {
		var l logLine
		if err := json.Unmarshal([]byte(r.waitFor(t, `"msg"`)), &l); err != nil {
			t.Fatalf("log line: %v", err)
		}
		lines = append(lines, l)
		if l.Msg == "reloaded" {
			return lines
		}
	}
}

// A reload names, in one warning, each setting that changes only on
// restart, keeps its running value, and applies the others; upstream lists
// are JSON arrays.
func TestReloadNamesRestartOnlySettings(t *testing.T) {
	a, b := fixedA(t, "192.0.2.1"), fixedA(t, "192.0.2.2")
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	base := "listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nalternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\n" +
		"auth_port: 1\nlog:\n  format: json\n"
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(base+extra), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("upstreams: [\"" + a + "\"]\n")
	r, started := startServe(t, cfgFile)

	write("upstreams: [\"" + b + "\", \"" + a + "\"]\ncache:\n  size: 5\ntcp:\n  max_connections: 7\nhttp_hosts: [nxray.lab]\nhttp_token: s3cret\n")
	r.sigs <- syscall.SIGHUP
	lines := r.untilReloaded(t)
	var warned []string
	for _, l := range lines {
		warned = append(warned, l.Changed...)
	}
	want := []string{"cache.size: 10000 -> 5 (restart to apply)", "tcp.max_connections: 256 -> 7 (restart to apply)",
		"http_token: changed (restart to apply)", "http_hosts: [] -> [nxray.lab] (restart to apply)"}
	if !slices.Equal(warned, want) {
		t.Errorf("restart-only settings named %q, want %q", warned, want)
	}
	if got := lines[len(lines)-1].Upstreams; !slices.Equal(got, []string{b, a}) {
		t.Errorf("reloaded upstreams %q, want the JSON array [%s %s]", got, b, a)
	}
	if got := ask(t, started.udp(), "x.example.test.").Answer[0].(*dns.A).A.String(); got != "192.0.2.2" {
		t.Errorf("after the reload: answer %s, want the new first upstream's 192.0.2.2", got)
	}

	// The running values were kept: going back to the first file changes
	// nothing that needs a restart.
	write("upstreams: [\"" + a + "\"]\n")
	r.sigs <- syscall.SIGHUP
	for _, l := range r.untilReloaded(t) {
		if len(l.Changed) > 0 || strings.Contains(l.Msg, "restart") {
			t.Errorf("reload back to the running settings warned: %+v", l)
		}
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
