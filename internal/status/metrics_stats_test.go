package status

import (
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/version"
	"github.com/nxray/nxray/proxy"
)

// statsProxy is a Proxy whose Stats are st.
type statsProxy struct{ st proxy.Stats }

func (p statsProxy) Stats() proxy.Stats             { return p.st }
func (statsProxy) Upstreams() []proxy.UpstreamState { return fakeProxy{}.Upstreams() }

// statsEngine is an Engine whose Stats are st.
type statsEngine struct {
	*fakeEngine
	st diagnose.Stats
}

func (e statsEngine) Stats() diagnose.Stats { return e.st }

// numbered sets every integer field of *v to a value of its own: 101,
// 102, ... in field order.
func numbered(v any) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		switch f := rv.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(uint64(101 + i))
		case reflect.Int:
			f.SetInt(int64(101 + i))
		}
	}
}

// gather reads the registry as a scrape would, by family name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// Every counter /api/v1/stats shows is in /metrics too, with its value;
// a field added to proxy.Stats or diagnose.Stats fails here until it has a
// metric (or a reason not to).
func TestStatsCountersInMetrics(t *testing.T) {
	var pst proxy.Stats
	var est diagnose.Stats
	numbered(&pst)
	numbered(&est)
	m := NewMetrics()
	newTestServer(t, Config{Proxy: statsProxy{pst}, Engine: statsEngine{newFakeEngine(), est}, Metrics: m})
	fams := gather(t, m)

	proxyWant := map[string]string{
		"Queries":      "nxray_queries_received_total",
		"CacheHits":    "nxray_cache_hits_total",
		"CacheMisses":  "nxray_cache_misses_total",
		"ACLRefused":   "nxray_acl_refused_total",
		"Overloaded":   "nxray_overloaded_total",
		"TCPRejected":  "nxray_tcp_rejected_total",
		"NoUpstream":   "nxray_no_upstream_total",
		"Mismatched":   "nxray_upstream_mismatched_total",
		"CacheEntries": "nxray_cache_entries",
		"CacheSkipped": "nxray_cache_skipped_total",
		"Rcodes":       "nxray_queries_total", // by rcode and proto, from the Recorder
	}
	engineWant := map[string]string{
		"Observed":     "nxray_diagnose_observed_total",
		"Deduplicated": "nxray_diagnose_deduplicated_total",
		"Grouped":      "nxray_diagnose_grouped_total",
		"Dropped":      "nxray_diagnose_dropped_total",
		"Diagnosed":    "nxray_diagnoses_total", // by cause, counted as verdicts are published
		"Probes":       "nxray_diagnose_probes_total",
	}
	check := func(st any, want map[string]string) {
		rv := reflect.ValueOf(st)
		for i := range rv.NumField() {
			field := rv.Type().Field(i).Name
			name, ok := want[field]
			if !ok {
				t.Errorf("%s.%s has no metric", rv.Type(), field)
				continue
			}
			f := rv.Field(i)
			if f.Kind() != reflect.Uint64 && f.Kind() != reflect.Int {
				continue // a map, counted by label elsewhere
			}
			if name == "nxray_diagnoses_total" {
				continue // counted from the verdicts, not read from Stats
			}
			if got, want := value(fams, name), float64(101+i); got != want {
				t.Errorf("%s (%s.%s) = %v, want %v", name, rv.Type(), field, got, want)
			}
		}
	}
	check(pst, proxyWant)
	check(est, engineWant)
	if fams["nxray_cache_entries"].GetType() != dto.MetricType_GAUGE {
		t.Errorf("nxray_cache_entries is a %v, want a gauge", fams["nxray_cache_entries"].GetType())
	}
}

// nxray_build_info says which nxray runs, as `nxray version` does.
func TestBuildInfo(t *testing.T) {
	v := version.Get()
	fams := gather(t, NewMetrics())
	if got := value(fams, "nxray_build_info", "version", v.Version, "revision", v.Revision, "goversion", v.GoVersion); got != 1 {
		t.Errorf("nxray_build_info{version=%q,revision=%q,goversion=%q} = %v, want 1: %v",
			v.Version, v.Revision, v.GoVersion, got, fams["nxray_build_info"])
	}
}

// promtool check metrics finds nothing to complain about in the whole
// registry, with every family holding samples.
func TestMetricsLint(t *testing.T) {
	var pst proxy.Stats
	var est diagnose.Stats
	numbered(&pst)
	numbered(&est)
	m := NewMetrics()
	newTestServer(t, Config{Proxy: statsProxy{pst}, Engine: statsEngine{newFakeEngine(), est}, Metrics: m})
	now := time.Now()
	m.Answered("udp", dns.RcodeSuccess, true, now, 50*time.Microsecond)
	m.Answered("tcp", dns.RcodeNameError, false, now, 20*time.Millisecond)
	m.Tried("127.0.0.1:53", 20*time.Millisecond, dns.RcodeNameError, nil)
	m.Tried("127.0.0.2:53", time.Second, 0, errTimeout{})
	m.verdict(diagnose.LameDelegation)
	// promlint is what promtool check metrics and testutil.GatherAndLint
	// run; testutil itself would pull a diff library into go.mod.
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{"nxray_request_duration_seconds", "nxray_upstream_responses_total",
		"nxray_cache_entries", "nxray_build_info", "nxray_acl_refused_total"} {
		if _, ok := gather(t, m)[name]; !ok {
			t.Errorf("no %s to lint", name)
		}
	}
	// The scrape-time collector sends only what it describes.
	pedantic := prometheus.NewPedanticRegistry()
	pedantic.MustRegister(m.sources)
	if _, err := pedantic.Gather(); err != nil {
		t.Error(err)
	}
}

type errTimeout struct{}

func (errTimeout) Error() string { return "i/o timeout" }
func (errTimeout) Timeout() bool { return true }

// The request histogram puts each answer under its transport and whether
// the cache gave it, in seconds.
func TestRequestDurationLabels(t *testing.T) {
	m := NewMetrics()
	now := time.Now()
	m.Answered("udp", dns.RcodeSuccess, true, now, 40*time.Microsecond)
	m.Answered("udp", dns.RcodeSuccess, false, now, 30*time.Millisecond)
	m.Answered("tcp", dns.RcodeServerFailure, false, now, 2*time.Second)
	fams := gather(t, m)
	tests := []struct {
		proto, cached string
		count         uint64
		sum           float64
	}{
		{"udp", "true", 1, 40e-6},
		{"udp", "false", 1, 30e-3},
		{"tcp", "false", 1, 2},
		{"tcp", "true", 0, 0},
	}
	for _, tt := range tests {
		h := histogram(fams, "nxray_request_duration_seconds", "proto", tt.proto, "cached", tt.cached)
		if h == nil {
			t.Errorf("no nxray_request_duration_seconds{proto=%q,cached=%q}", tt.proto, tt.cached)
			continue
		}
		if h.GetSampleCount() != tt.count || h.GetSampleSum() < tt.sum*0.999 || h.GetSampleSum() > tt.sum*1.001 {
			t.Errorf("{proto=%q,cached=%q}: count %d sum %v, want %d and %v", tt.proto, tt.cached,
				h.GetSampleCount(), h.GetSampleSum(), tt.count, tt.sum)
		}
	}
}

// histogram finds the histogram of a family with exactly these labels.
func histogram(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Histogram {
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if match {
			return m.GetHistogram()
		}
	}
	return nil
}

// BenchmarkAnswered is what the DNS hot path pays the Recorder per answer:
// a counter and a histogram, no clock read, no allocation.
func BenchmarkAnswered(b *testing.B) {
	m := NewMetrics()
	now := time.Now()
	m.Answered("udp", dns.RcodeSuccess, true, now, 40*time.Microsecond)
	b.ReportAllocs()
	for b.Loop() {
		m.Answered("udp", dns.RcodeSuccess, true, now, 40*time.Microsecond)
	}
}
