package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/config"
	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/dnstest"
)

// Every diagnosis key reaches the engine under its own name: none is left
// to the engine's defaults.
func TestEngineConfigTakesEveryKey(t *testing.T) {
	d := config.Diagnosis{Workers: 2, QueueSize: 3, StoreSize: 5, VerdictTTL: 7 * time.Second, ProbeRate: 11.5,
		ProbeBurst: 13, ProbeBudget: 17, Timeout: 19 * time.Second}
	got := engineConfig(d, nil, nil)
	want := diagnose.Config{Workers: 2, QueueSize: 3, StoreSize: 5, StoreTTL: 7 * time.Second, ProbeRate: 11.5,
		ProbeBurst: 13, ProbeBudget: 17, Timeout: 19 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("engineConfig = %+v, want %+v", got, want)
	}
}

// nxdomain starts an upstream that answers NXDOMAIN to everything.
func nxdomain(t *testing.T) string {
	t.Helper()
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		w.WriteMsg(new(dns.Msg).SetRcode(r, dns.RcodeNameError))
	}).Addr
}

// diagnosisProbes reads how many probes the engine has sent from the status
// page's stats.
func diagnosisProbes(t *testing.T, statusURL string) uint64 {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(statusURL, "/") + "/api/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Engine struct{ Probes uint64 }
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("stats: %v", err)
	}
	return st.Engine.Probes
}

// diagnosis.probe_budget from the file bounds each diagnosis of a running
// nxray; a reload that changes the sizes says they need a restart and keeps
// the running ones.
func TestDiagnosisSizesFromTheFile(t *testing.T) {
	up := nxdomain(t)
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	write := func(workers, budget int) {
		t.Helper()
		text := "listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nupstreams: [\"" + up + "\"]\n" +
			"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n" +
			"diagnosis:\n  workers: " + strconv.Itoa(workers) + "\n  probe_budget: " + strconv.Itoa(budget) + "\n"
		if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 2)
	r, started := startServe(t, cfgFile)
	addr := started.udp()

	// Unbounded, this diagnosis would ask two alternates twice and the root.
	if rc := ask(t, addr, "one.example.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	r.waitFor(t, `"msg":"diagnosis"`)
	if got := diagnosisProbes(t, started.Status); got != 2 {
		t.Fatalf("one diagnosis sent %d probes, want diagnosis.probe_budget 2", got)
	}

	write(3, 50)
	r.sigs <- syscall.SIGHUP
	warn := r.waitFor(t, "change only on restart")
	for _, w := range []string{"diagnosis.workers: 1 -> 3 (restart to apply)", "diagnosis.probe_budget: 2 -> 50 (restart to apply)"} {
		if !strings.Contains(warn, w) {
			t.Errorf("reload warning %s does not name %q", warn, w)
		}
	}
	r.waitFor(t, `"reloaded"`)
	if rc := ask(t, addr, "two.example.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[rc])
	}
	r.waitFor(t, `"msg":"diagnosis"`)
	if got := diagnosisProbes(t, started.Status); got != 4 {
		t.Errorf("after the reload two diagnoses sent %d probes, want 4: the running budget of 2 each", got)
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestDiagnosisBadValueStopsServe(t *testing.T) {
	var out strings.Builder
	code := run([]string{"serve", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--diagnosis-workers", "0"},
		&out, &out, nil)
	if code != 2 || !strings.Contains(out.String(), `diagnosis.workers: "0"`) {
		t.Errorf("exit %d, output %q; want exit 2 naming diagnosis.workers and 0", code, out.String())
	}
}

// A reload that changes the upstreams changes the ones a failure no
// upstream answered is laid to: the verdict names the upstream asked, not
// the first configuration's.
func TestReloadNamesTheNewUpstreams(t *testing.T) {
	first, _ := dnstest.Blackhole(t)
	second, _ := dnstest.Blackhole(t)
	cfgFile := filepath.Join(t.TempDir(), "nxray.yaml")
	write := func(up string) {
		t.Helper()
		text := "listen: [\"127.0.0.1:0\"]\nhttp: \"127.0.0.1:0\"\nupstreams: [\"" + up + "\"]\ntimeout: 300ms\n" +
			"alternates: [\"127.0.0.1:1\"]\nroot_hints: \"127.0.0.1\"\nauth_port: 1\nlog:\n  format: json\n"
		if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(first)
	r, started := startServe(t, cfgFile)
	for i, want := range []string{first, second} {
		if i == 1 {
			write(second)
			r.sigs <- syscall.SIGHUP
			r.waitFor(t, `"reloaded"`)
		}
		name := "n" + strconv.Itoa(i) + ".zone" + strconv.Itoa(i) + ".test."
		if rc := ask(t, started.udp(), name).Rcode; rc != dns.RcodeServerFailure {
			t.Fatalf("%s: rcode %s, want SERVFAIL", name, dns.RcodeToString[rc])
		}
		var line struct{ Name, Upstream string }
		json.Unmarshal([]byte(r.waitFor(t, `"name":"`+name+`"`)), &line)
		if line.Upstream != want {
			t.Errorf("%s: the diagnosis names upstream %q, want %q", name, line.Upstream, want)
		}
	}
	if code := r.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
