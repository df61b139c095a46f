package status

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

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
