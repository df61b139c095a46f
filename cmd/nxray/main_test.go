package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/internal/lab"
)

// TestMain keeps every test's history out of the real home: none, unless a
// test gives --history-path (flags beat the environment).
func TestMain(m *testing.M) {
	os.Setenv("NXRAY_HISTORY_PATH", "")
	goleak.VerifyTestMain(m)
}

// running is an nxray run in this process, with its output as lines.
type running struct {
	sigs  chan os.Signal
	lines chan string
	code  chan int
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{sigs: make(chan os.Signal, 1), lines: make(chan string, 1000), code: make(chan int, 1)}
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	go func() {
		c := run(args, pw, pw, r.sigs)
		pw.Close()
		r.code <- c
	}()
	t.Cleanup(func() {
		select {
		case r.sigs <- syscall.SIGTERM:
		default:
		}
		for range r.lines { // drain so run can finish writing
		}
	})
	return r
}

// waitFor returns the first line containing s, failing after 10s.
func (r *running) waitFor(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("nxray exited before printing %q", s)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("no line with %q within 10s", s)
		}
	}
}

func (r *running) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	r.sigs <- sig
	select {
	case c := <-r.code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("nxray did not stop within 10s")
	}
	return -1
}

// fixedA starts an upstream answering every A query with ip.
func fixedA(t *testing.T, ip string) string {
	t.Helper()
	return dnstest.Start(t, dnstest.AnswerA(ip, 60)).Addr
}

// startedLine is what serve's start-up log line says.
type startedLine struct {
	Listen []string
	Status string
}

// udp is the first UDP listen address.
func (s startedLine) udp() string { return strings.TrimPrefix(s.Listen[0], "udp://") }

// startServe runs serve with the configuration file cfgFile (JSON logs, one
// listen address) and returns it with its start-up line.
func startServe(t *testing.T, cfgFile string) (*running, startedLine) {
	t.Helper()
	r := start(t, "serve", "--config", cfgFile)
	var started startedLine
	if err := json.Unmarshal([]byte(r.waitFor(t, `"nxray started"`)), &started); err != nil || len(started.Listen) != 2 {
		t.Fatalf("start-up line: %v %v", started, err)
	}
	return r, started
}

func ask(t *testing.T, addr, name string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
	if err != nil {
		t.Fatalf("asking %s: %v", name, err)
	}
	return r
}

func TestServeForwardsReloadsAndStops(t *testing.T) {
	a, b := fixedA(t, "192.0.2.1"), fixedA(t, "192.0.2.2")
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	write := func(up string) {
		os.WriteFile(cfgFile, []byte("listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nupstreams: [\""+up+"\"]\n"+
			"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"), 0o644)
	}
	write(a)
	r, started := startServe(t, cfgFile)
	addr := started.udp()
	if got := ask(t, addr, "one.example.test.").Answer[0].(*dns.A).A.String(); got != "192.0.2.1" {
		t.Fatalf("answer %s, want 192.0.2.1", got)
	}
	// The status page explains with the upstream of the running configuration.
	explainedWith := func() string {
		t.Helper()
		resp, err := http.Get(strings.TrimSuffix(started.Status, "/") + "/api/v1/explain?name=one.example.test")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Upstream string }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("explain from the status page: %d %v", resp.StatusCode, err)
		}
		return v.Upstream
	}
	if got := explainedWith(); got != a {
		t.Errorf("status page explained with %q, want %q", got, a)
	}

	write(b)
	r.sigs <- syscall.SIGHUP
	r.waitFor(t, `"reloaded"`)
	if got := ask(t, addr, "two.example.test.").Answer[0].(*dns.A).A.String(); got != "192.0.2.2" {
		t.Fatalf("after SIGHUP: answer %s, want the new upstream's 192.0.2.2", got)
	}
	if got := explainedWith(); got != b {
		t.Errorf("after SIGHUP the status page explained with %q, want the new upstream %q", got, b)
	}

	os.WriteFile(cfgFile, []byte("strategy: nonsense\n"), 0o644)
	r.sigs <- syscall.SIGHUP
	r.waitFor(t, "keeping the running configuration")
	if got := ask(t, addr, "three.example.test.").Answer[0].(*dns.A).A.String(); got != "192.0.2.2" {
		t.Fatalf("after a bad reload: answer %s, want the running configuration kept", got)
	}

	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// The demo starts nxray as serve does (its "nxray started" line), on free
// ports when the addresses asked for are taken, and every lab fault gets its
// cause.
func TestDemoDiagnosesEveryScenario(t *testing.T) {
	busyDNS, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyDNS.Close()
	busyPage, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busyPage.Close()
	r := start(t, "demo", "--listen", busyDNS.LocalAddr().String(), "--http", busyPage.Addr().String())
	started := r.waitFor(t, "msg=\"nxray started\"")
	statusURL := strings.SplitN(r.waitFor(t, "msg=\"status page\""), "url=", 2)[1]
	line := r.waitFor(t, "nxray listens on")
	addr := strings.Fields(strings.SplitN(line, "listens on ", 2)[1])[0]
	if addr == busyDNS.LocalAddr().String() || strings.Contains(statusURL, busyPage.Addr().String()) ||
		!strings.Contains(started, "udp://"+addr) || !strings.Contains(started, "status="+statusURL) {
		t.Fatalf("demo on %s, page %s, started line %s: want free ports, named in the started line", addr, statusURL, started)
	}
	want := map[string]string{
		"nothere.ok.test.":     "nxdomain_confirmed",
		"www.dsmismatch.test.": "dnssec_bogus",
		"www.expired.test.":    "dnssec_expired",
		"www.lame.test.":       "lame_delegation",
		"www.dead.test.":       "authoritative_unreachable",
	}
	for len(want) > 0 {
		l := r.waitFor(t, "msg=diagnosis")
		for name, cause := range want {
			if strings.Contains(l, "name="+name) {
				if !strings.Contains(l, "cause="+cause) {
					t.Errorf("%s: %s, want cause=%s", name, l, cause)
				}
				delete(want, name)
			}
		}
	}
	if got := ask(t, addr, "www.ok.test.").Rcode; got != dns.RcodeSuccess {
		t.Errorf("www.ok.test. through the demo: %s", dns.RcodeToString[got])
	}
	digShowsTheCause(t, addr)
	statusShowsTheCause(t, statusURL)
	if code := r.stop(t, syscall.SIGINT); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
}

// statusShowsTheCause reads the demo's verdict for www.lame.test. from its
// status page's JSON API.
func statusShowsTheCause(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "api/v1/diagnoses?name=www.lame.test.")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Diagnoses []struct{ Name, Cause string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got.Diagnoses) != 1 ||
		got.Diagnoses[0].Cause != "lame_delegation" {
		t.Errorf("status API at %s: %v %+v", url, err, got)
	}
}

// digShowsTheCause runs Debian's dig against the demo and finds nxray's
// explanation in its EDE line. dig must exist in CI (scripts/test.sh
// installs bind9-dnsutils); elsewhere the check is skipped with a note.
func digShowsTheCause(t *testing.T, addr string) {
	t.Helper()
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dig is not installed; scripts/test.sh installs bind9-dnsutils")
		}
		t.Log("dig not found: skipping the dig check (apt-get install bind9-dnsutils)")
		return
	}
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=5", "www.lame.test.", "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "status: SERVFAIL") || !strings.Contains(string(out), "EDE: 22") ||
		!strings.Contains(string(out), "nxray: lame_delegation: ") {
		t.Errorf("dig output lacks the SERVFAIL and nxray's EDE 22 lame_delegation:\n%s", out)
	}
}

func TestExplain(t *testing.T) {
	h, anchors := startLab(t)
	flags := []string{"--upstream", h.Resolvers[lab.RoleValidating], "--trust-anchors", anchors,
		"--alternate", h.Resolvers[lab.RoleValidating] + "," + h.Resolvers[lab.RoleNonvalidating],
		"--root-hints", strings.Join(h.RootHints, ","), "--auth-port", fmt.Sprint(h.Port)}
	var out, errs bytes.Buffer
	if code := run(append([]string{"explain", "www.lame.test", "A"}, flags...), &out, &errs, nil); code != 1 {
		t.Fatalf("exit %d, want 1 for a fault: %s", code, errs.String())
	}
	for _, w := range []string{"www.lame.test. A: lame_delegation", "Advice:", "SERVER", "authoritative", "REFUSED"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("explain output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(append([]string{"explain", "www.partial.test", "--json"}, flags...), &out, &errs, nil); code != 1 {
		t.Fatalf("exit %d, want 1 for a fault: %s", code, errs.String())
	}
	var v struct {
		Name, Cause, Summary, Advice string
		Evidence                     []struct{ Server, Role string }
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if v.Name != "www.partial.test." || v.Cause != "partial_authoritative_outage" || v.Summary == "" || len(v.Evidence) == 0 {
		t.Errorf("--json verdict: %+v", v)
	}
	// A name that still fails at the upstream is never healthy, though its
	// zone's servers have it.
	out.Reset()
	filtered := append([]string{"explain", "blocked.ok.test", "--upstream", h.Resolvers[lab.RoleFiltering]}, flags[2:]...)
	if code := run(filtered, &out, &errs, nil); code != 1 || !strings.Contains(out.String(), "blocked.ok.test. A: resolver_filtering") {
		t.Errorf("explain through a filtering upstream: exit %d\n%s", code, out.String())
	}
	for _, bad := range [][]string{{"explain"}, {"explain", "a", "NOTATYPE"}, {"explain", "a..b"}} {
		if code := run(bad, &out, &errs, nil); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"version", []string{"version"}, 0, "nxray "},
		{"help", []string{"serve", "--help"}, 0, "--upstream"},
		{"demo help", []string{"demo", "--help"}, 0, "offline"},
		{"explain help", []string{"explain", "--help"}, 0, "NAME [TYPE]"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"--nope"}, 2, "unknown flag: --nope"},
		{"bad value", []string{"--strategy", "fastest"}, 2, `strategy: "fastest"`},
		{"loop", []string{"--listen", "127.0.0.1:5399", "--upstream", "127.0.0.1:5399"}, 2, "loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := run(tt.args, &out, &out, nil)
			if code != tt.code || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out.String(), tt.code, tt.want)
			}
		})
	}
}

func TestBusyPortSaysSo(t *testing.T) {
	ln, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	code := run([]string{"--listen", ln.LocalAddr().String(), "--upstream", "127.0.0.1:1", "--http", "",
		"--alternate", "127.0.0.1:1", "--root-hints", "127.0.0.1"}, &out, &out, nil)
	if code != 1 || !strings.Contains(out.String(), "address already in use") || !strings.Contains(out.String(), "--listen") {
		t.Errorf("exit %d, output %q; want exit 1 naming the busy address and the way out", code, out.String())
	}
}

// startLab starts the in-process lab hierarchy, closed at t's cleanup, and
// writes its trust anchors to a file; it returns the lab and the file.
func startLab(t *testing.T) (*lab.Hierarchy, string) {
	t.Helper()
	h, err := lab.StartHierarchy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	anchors, err := h.WriteTrustAnchors(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return h, anchors
}
