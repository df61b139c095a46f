package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/internal/dnstest"
)

// nxdomainUpstream answers NXDOMAIN for every name under gone.test., and
// an A record for the rest.
func nxdomainUpstream(t *testing.T) string {
	t.Helper()
	a := dnstest.AnswerA("192.0.2.1", 60)
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		if !dns.IsSubDomain("gone.test.", r.Question[0].Name) {
			a(w, r)
			return
		}
		m := new(dns.Msg).SetRcode(r, dns.RcodeNameError)
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "gone.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns: "ns.gone.test.", Mbox: "h.gone.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60}}
		w.WriteMsg(m)
	}).Addr
}

// historyConfig writes a configuration for serve in front of up, the page
// on a free port and nothing else reachable (alternates and roots on a
// closed loopback port).
func historyConfig(t *testing.T, up string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "nxray.yaml")
	body := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nupstreams: [%q]\n"+
		"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"+
		"diagnosis:\n  timeout: 3s\n", up)
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// getJSON reads the status page's API at path into v.
func getJSON(t *testing.T, started startedLine, path string, v any) int {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(started.Status, "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp.StatusCode
}

type apiVerdict struct {
	ID, Name string
	Live     bool
}

type apiQuery struct {
	Name, Rcode, Client string
	DiagnosisID         string `json:"diagnosis_id"`
}

// TestHistorySurvivesRestart stops nxray after a failure was diagnosed and
// starts it again on the same history file: the verdict and the queries
// are there, the verdict live again, the failed query linked to it, and a
// new verdict gets an ID of its own.
func TestHistorySurvivesRestart(t *testing.T) {
	up := nxdomainUpstream(t)
	cfg, path := historyConfig(t, up), filepath.Join(t.TempDir(), "state", "history.db")
	r, started := startServeHistory(t, cfg, path)
	if rc := ask(t, started.udp(), "www.gone.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("answer %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	ask(t, started.udp(), "ok.example.test.")
	r.waitFor(t, `"msg":"diagnosis"`)
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}

	r, started = startServeHistory(t, cfg, path)
	var ds struct{ Diagnoses []apiVerdict }
	getJSON(t, started, "/api/v1/diagnoses", &ds)
	if len(ds.Diagnoses) != 1 || ds.Diagnoses[0].Name != "www.gone.test." || !ds.Diagnoses[0].Live {
		t.Fatalf("after the restart: %+v, want the verdict for www.gone.test., live again", ds.Diagnoses)
	}
	old := ds.Diagnoses[0].ID
	var qs struct {
		Queries []apiQuery
		Next    string
	}
	if code := getJSON(t, started, "/api/v1/queries", &qs); code != http.StatusOK {
		t.Fatalf("queries: %d", code)
	}
	want := []apiQuery{{Name: "ok.example.test.", Rcode: "NOERROR", Client: "127.0.0.1"},
		{Name: "www.gone.test.", Rcode: "NXDOMAIN", Client: "127.0.0.1", DiagnosisID: old}}
	if fmt.Sprint(qs.Queries) != fmt.Sprint(want) {
		t.Errorf("queries after the restart %+v, want %+v", qs.Queries, want)
	}

	ask(t, started.udp(), "other.gone.test.")
	r.waitFor(t, `"msg":"diagnosis"`)
	getJSON(t, started, "/api/v1/diagnoses", &ds)
	if len(ds.Diagnoses) != 2 || ds.Diagnoses[0].ID == old || ds.Diagnoses[1].ID != old {
		t.Errorf("after a new failure: %+v; want a new verdict with an ID of its own, then the old one", ds.Diagnoses)
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestHistoryDiskFull puts the history on a small tmpfs and fills it: nxray
// keeps answering, and the page and the API say why history stopped.
func TestHistoryDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (the full disk this test fills)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	up := nxdomainUpstream(t)
	// Rows a second that fit the disk at first: history works, then fills it.
	cfg := historyConfig(t, up)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "history:\n  max_rate: 100\n")
	f.Close()
	r, started := startServeHistory(t, cfg, filepath.Join(dir, "history.db"))
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		name := fmt.Sprintf("host-%d-%s.example.test.", i, strings.Repeat("x", 40))
		if rc := ask(t, started.udp(), name).Rcode; rc != dns.RcodeSuccess {
			t.Fatalf("query %d: %s, want an answer whatever the disk", i, dns.RcodeToString[rc])
		}
		if i%200 == 199 {
			if up := metric(t, started, "nxray_history_up"); up == "0" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("history still written after %d queries on a 256 KiB disk", i)
		}
	}
	for i := range 50 {
		if rc := ask(t, started.udp(), fmt.Sprintf("after-%d.example.test.", i)).Rcode; rc != dns.RcodeSuccess {
			t.Fatalf("after the disk filled: %s", dns.RcodeToString[rc])
		}
	}
	if w := metric(t, started, "nxray_history_written_total"); w == "" || w == "0" {
		t.Errorf("nxray_history_written_total %q: history never worked on that disk", w)
	}
	page := body(t, started, "/")
	if i := strings.Index(page, "History is not being written"); i >= 0 {
		t.Log(page[i:min(len(page), i+300)])
	}
	if !strings.Contains(page, "History is not being written") || !strings.Contains(page, "disk full") {
		t.Errorf("the page does not say history stopped for a full disk")
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
}

func body(t *testing.T, started startedLine, path string) string {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(started.Status, "/") + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startServeHistory is startServe with its history at path (a flag: the
// tests' environment turns history off, and the environment beats the file).
func startServeHistory(t *testing.T, cfgFile, path string) (*running, startedLine) {
	t.Helper()
	r := start(t, "serve", "--config", cfgFile, "--history-path", path)
	var started startedLine
	if err := json.Unmarshal([]byte(r.waitFor(t, `"nxray started"`)), &started); err != nil || len(started.Listen) != 2 {
		t.Fatalf("start-up line: %v %v", started, err)
	}
	return r, started
}

// metric is the value of the unlabelled metric name on /metrics.
func metric(t *testing.T, started startedLine, name string) string {
	t.Helper()
	for _, l := range strings.Split(body(t, started, "/metrics"), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}
