package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/proxy"
)

// nxray flush empties a running serve's cache through its status page, with
// the token from the same configuration: a name fixed upstream is then
// answered fixed at once. Without the token, with a wrong one, with
// nothing listening or the page off, it says why on one line and exits 1.
func TestFlushCommand(t *testing.T) {
	var fixed atomic.Bool
	up := dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Question[0].Name != "www.broken.test." || fixed.Load() {
			dnstest.AnswerA("192.0.2.9", 60)(w, r)
			return
		}
		soa, _ := dns.NewRR("broken.test. 3600 IN SOA ns.broken.test. hostmaster.broken.test. 1 3600 600 86400 3600")
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{soa}
		w.WriteMsg(m)
	})
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	os.WriteFile(cfgFile, []byte("listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nhttp_token: \"s3cret\"\nupstreams: [\""+up.Addr+"\"]\n"+
		"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"), 0o644)
	r, started := startServe(t, cfgFile)
	page, err := url.Parse(started.Status)
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := started.udp()
	if rc := ask(t, dnsAddr, "www.broken.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("before the fix: %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	ask(t, dnsAddr, "other.example.")
	fixed.Store(true)
	if rc := ask(t, dnsAddr, "www.broken.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("after the fix, before the flush: %s, want the cached NXDOMAIN", dns.RcodeToString[rc])
	}

	code, out, errs := runOut(t, "flush", "--config", cfgFile, "--http", page.Host, "Broken.TEST")
	if code != 0 || out != "flushed 1 cached answer of Broken.TEST. and the names under it\n" {
		t.Fatalf("flush: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if m := ask(t, dnsAddr, "www.broken.test."); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("after the flush: %v, want the fixed answer", m)
	}
	code, out, errs = runOut(t, "flush", "--config", cfgFile, "--http", page.Host)
	if code != 0 || out != "flushed 2 cached answers: everything\n" {
		t.Errorf("flush everything: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	free := dnstest.DeadAddr(t)
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"no token", []string{"--http", page.Host}, 1, "the status page has a token; give it with --http-token or NXRAY_HTTP_TOKEN"},
		{"wrong token", []string{"--http", page.Host, "--http-token", "nope"}, 1, "is not the status page's"},
		{"nothing listens", []string{"--http", free}, 1, "nothing answers at http://" + free + "/api/v1/cache/flush: is nxray running"},
		{"page off", []string{"--http", ""}, 1, "the status page is off"},
		{"bad name", []string{"--http", page.Host, "a..b"}, 2, `"a..b" is not a domain name`},
		{"two names", []string{"--http", page.Host, "a.test", "b.test"}, 2, "accepts at most 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runOut(t, append([]string{"flush"}, tt.args...)...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errs, tt.code, tt.want)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr %q: want one line", errs)
			}
		})
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// At start nxray asks every upstream, forward zones' too, one question and
// warns of each that does not answer, naming it and its zone; it serves
// meanwhile and after, through the upstream that answers.
func TestStartupCheckWarns(t *testing.T) {
	good := fixedA(t, "192.0.2.1")
	silent, _ := dnstest.Blackhole(t)
	dead := dnstest.DeadAddr(t)
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	os.WriteFile(cfgFile, []byte("listen: [\"127.0.0.1:0\"]\nhttp: \"\"\nupstreams: [\""+silent+"\", \""+good+"\"]\n"+
		"forward_zones:\n  corp.example.: [\"tcp://"+dead+"\", \""+good+"\"]\n"+
		"timeout: 300ms\nalternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"), 0o644)
	r, started := startServe(t, cfgFile)
	// Answered while the check still waits on the silent upstream.
	if m := ask(t, started.udp(), "www.example."); len(m.Answer) != 1 {
		t.Errorf("during the check: %v, want the good upstream's answer", m)
	}
	warned := map[string]string{}
	for range 2 {
		line := r.waitFor(t, `"msg":"upstream not answering"`)
		for _, u := range []string{`"upstream":"` + silent + `","zone":""`, `"upstream":"tcp://` + dead + `","zone":"corp.example."`} {
			if strings.Contains(line, u) {
				warned[u] = line
			}
		}
	}
	if len(warned) != 2 {
		t.Errorf("warnings %v: want one for %s and one for tcp://%s in corp.example.", warned, silent, dead)
	}
	for u, line := range warned {
		if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"error":"`) {
			t.Errorf("%s: %s, want a warning with the error", u, line)
		}
	}
	if line := r.waitFor(t, `"msg":"upstreams checked"`); !strings.Contains(line, `"not_answering":2`) {
		t.Errorf("summary %s, want not_answering 2", line)
	}
	if m := ask(t, started.udp(), "www.corp.example."); len(m.Answer) != 1 {
		t.Errorf("in the forward zone: %v, want the good upstream's answer", m)
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// blockingChecker never answers until its context ends.
type blockingChecker struct{ asked chan struct{} }

func (b blockingChecker) CheckUpstreams(ctx context.Context) []proxy.CheckFailure {
	close(b.asked)
	<-ctx.Done()
	return []proxy.CheckFailure{{Upstream: "127.0.0.1:1", Err: ctx.Err()}}
}

// Stopping nxray while the check waits ends the check's goroutine at once,
// and what the stop cut short is not reported as an upstream's fault.
func TestStartupCheckStops(t *testing.T) {
	log := dnstest.NewLog()
	b := blockingChecker{asked: make(chan struct{})}
	uc := startUpstreamCheck(b, log.Logger())
	<-b.asked
	done := make(chan struct{})
	go func() { uc.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not end the check")
	}
	if lines := log.Lines(); len(lines) != 0 {
		t.Errorf("a stopped check logged %q", lines)
	}
}
