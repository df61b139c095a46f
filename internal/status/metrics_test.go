package status

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/adapt"
	"github.com/nxray/nxray/internal/dnstest"
	"github.com/nxray/nxray/proxy"
)

// quietProber finds nothing, at once: the verdict's cause does not matter
// here, only that one is made.
type quietProber struct{}

func (quietProber) Probe(context.Context, diagnose.Failure, func() bool) (diagnose.Findings, []diagnose.Evidence) {
	return diagnose.Findings{}, nil
}

// startUpstream answers NXDOMAIN for names under nx.test. and an A record
// for anything else, on 127.0.0.1.
func startUpstream(t *testing.T) string {
	t.Helper()
	return dnstest.Start(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		if dns.IsSubDomain("nx.test.", r.Question[0].Name) {
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("nx.test. 60 IN SOA ns.nx.test. h.nx.test. 1 60 60 60 60")
			m.Ns = append(m.Ns, soa)
		} else {
			rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	}).Addr
}

// closedPort is a loopback address nothing listens on: a connected UDP
// socket there gets "connection refused".
func closedPort(t *testing.T) string { return dnstest.DeadAddr(t) }

// scrape reads /metrics as Prometheus would.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value finds the sample of a family with exactly these labels; a
// histogram gives its count. -1 when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// Queries through a real proxy and a verdict from a real engine move the
// counters a Prometheus scrape reads.
func TestMetricsScrape(t *testing.T) {
	good, dead := startUpstream(t), closedPort(t)
	eng, err := diagnose.New(diagnose.Config{Prober: quietProber{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	log := dnstest.NewLog()
	px, base := serveStack(t, eng, proxy.Config{Upstreams: []proxy.Upstream{{Net: "udp", Addr: dead}, {Net: "udp", Addr: good}},
		Timeout: time.Second, HealthInterval: time.Hour, Observer: adapt.Observer(eng, good), Logger: log.Logger()})

	// The event stream tells when the verdict is made; the hub counts it in
	// /metrics before it sends it, so no polling is needed.
	resp, err := http.Get(base + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewScanner(resp.Body)
	events.Scan() // "retry:": joined

	before := scrape(t, base)
	if v := value(before, "nxray_diagnoses_total", "cause", "dnssec_bogus"); v != 0 {
		t.Errorf("diagnoses_total starts at %v, want 0 for every cause", v)
	}
	pxAddr := px.Addrs()[0].String()
	ask := func(net, name string) {
		c := &dns.Client{Net: net, Timeout: 3 * time.Second}
		if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), pxAddr); err != nil {
			t.Fatalf("%s %s: %v", net, name, err)
		}
	}
	ask("udp", "www.example.test.") // the dead upstream refuses, the good one answers
	// The failed try starts a health probe, which marks the dead upstream
	// down; until it has, later queries would try it first too.
	log.Wait(t, "upstream down")
	ask("udp", "www.example.test.") // from the cache
	ask("tcp", "other.example.test.")
	ask("udp", "gone.nx.test.")

	var v diagnose.Verdict
	for events.Scan() {
		if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if v.Name != "gone.nx.test." {
		t.Fatalf("verdict %+v (%v)", v, events.Err())
	}

	fams := scrape(t, base)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nxray_queries_total", []string{"rcode", "NOERROR", "proto", "udp"}, 2},
		{"nxray_queries_total", []string{"rcode", "NOERROR", "proto", "tcp"}, 1},
		{"nxray_queries_total", []string{"rcode", "NXDOMAIN", "proto", "udp"}, 1},
		{"nxray_cache_hits_total", nil, 1},
		{"nxray_cache_misses_total", nil, 3},
		{"nxray_upstream_failures_total", []string{"upstream", dead, "reason", "refused"}, 1},
		{"nxray_upstream_failures_total", []string{"upstream", dead, "reason", "timeout"}, 0},
		{"nxray_upstream_request_duration_seconds", []string{"upstream", good}, 3},
		{"nxray_upstream_responses_total", []string{"upstream", good, "rcode", "NOERROR"}, 2},
		{"nxray_upstream_responses_total", []string{"upstream", good, "rcode", "NXDOMAIN"}, 1},
		{"nxray_request_duration_seconds", []string{"proto", "udp", "cached", "false"}, 2},
		{"nxray_request_duration_seconds", []string{"proto", "udp", "cached", "true"}, 1}, // the fast path's hit
		{"nxray_request_duration_seconds", []string{"proto", "tcp", "cached", "false"}, 1},
		{"nxray_request_duration_seconds", []string{"proto", "tcp", "cached", "true"}, 0},
		{"nxray_cache_entries", nil, 3},
		{"nxray_queries_received_total", nil, 4},
		{"nxray_no_upstream_total", nil, 0},
		{"nxray_upstream_up", []string{"upstream", dead, "zone", "."}, 0},
		{"nxray_upstream_up", []string{"upstream", good, "zone", "."}, 1},
		{"nxray_diagnoses_total", []string{"cause", string(v.Cause)}, 1},
		{"nxray_diagnoses_total", []string{"cause", "authoritative_inconsistent"}, 0}, // every cause, from zero
		{"nxray_diagnose_dropped_total", nil, 0},
		{"nxray_diagnose_probes_total", nil, float64(eng.Stats().Probes)},
	}
	for _, c := range checks {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, runtime := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[runtime]; !ok {
			t.Errorf("no %s", runtime)
		}
	}

	// The page shows the same traffic.
	page, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	var b strings.Builder
	bufio.NewReader(page.Body).WriteTo(&b)
	for _, want := range []string{dead, `<span class="state down">down</span>`, "gone.nx.test.", "25%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// The reason label sorts errors as an operator reads them.
func TestReasonOf(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout"},
		{fmt.Errorf("reading: %w", syscall.ECONNREFUSED), "refused"},
		{fmt.Errorf("dot: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "tls"},
		{fmt.Errorf("dot: %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "tls"},
		{tls.AlertError(40), "tls"},
		{proxy.ErrMismatch, "error"},
		{errors.New("boom"), "error"},
	}
	for _, tt := range tests {
		if got := reasonNames[reasonOf(tt.err)]; got != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// Answered and Tried sit on the DNS hot path: once warm they allocate
// nothing.
func TestRecorderAllocs(t *testing.T) {
	m := NewMetrics()
	now := time.Now()
	m.Answered("udp", dns.RcodeSuccess, false, now, time.Millisecond)
	m.Tried("127.0.0.1:53", time.Millisecond, dns.RcodeSuccess, nil)
	if n := testing.AllocsPerRun(100, func() {
		m.Answered("udp", dns.RcodeSuccess, true, now, 40*time.Microsecond)
		m.Answered("tcp", dns.RcodeNameError, false, now, 3*time.Millisecond)
		m.Tried("127.0.0.1:53", time.Millisecond, dns.RcodeSuccess, nil)
	}); n > 0 {
		t.Errorf("%v allocations per call", n)
	}
}
