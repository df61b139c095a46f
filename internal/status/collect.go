package status

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/version"
	"github.com/nxray/nxray/proxy"
)

// sources reads counters the proxy and the engine already keep, at scrape
// time, so nothing is counted twice: every counter of /api/v1/stats is in
// /metrics too. Either may be unset: its metrics are then left out.
type sources struct {
	proxy  atomic.Pointer[proxySource]
	engine atomic.Pointer[engineSource]
}

type (
	proxySource  struct{ Proxy }
	engineSource struct{ Engine }
)

// scraped is one metric read from a Stats at scrape time.
type scraped[S any] struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(S) float64
}

func counter[S any](name, help string, value func(S) float64) scraped[S] {
	return scraped[S]{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, value}
}

// proxyMetrics are proxy.Stats as /metrics has them. Its Rcodes are
// nxray_queries_total, which the Recorder counts by transport too.
var proxyMetrics = []scraped[proxy.Stats]{
	counter("nxray_queries_received_total", "Queries read from clients (those too malformed to read are not counted).",
		func(s proxy.Stats) float64 { return float64(s.Queries) }),
	counter("nxray_cache_hits_total", "Queries answered from the cache.",
		func(s proxy.Stats) float64 { return float64(s.CacheHits) }),
	counter("nxray_cache_misses_total", "Queries the cache could not answer.",
		func(s proxy.Stats) float64 { return float64(s.CacheMisses) }),
	counter("nxray_cache_skipped_total", "Negative answers not cached: asked once while the negative cache was full of live answers.",
		func(s proxy.Stats) float64 { return float64(s.CacheSkipped) }),
	{prometheus.NewDesc("nxray_cache_entries", "Answers the cache holds.", nil, nil), prometheus.GaugeValue,
		func(s proxy.Stats) float64 { return float64(s.CacheEntries) }},
	counter("nxray_acl_refused_total", "Queries from clients outside the ACL, answered REFUSED.",
		func(s proxy.Stats) float64 { return float64(s.ACLRefused) }),
	counter("nxray_overloaded_total", "Queries answered SERVFAIL at once because max_inflight queries were already waiting on upstreams.",
		func(s proxy.Stats) float64 { return float64(s.Overloaded) }),
	counter("nxray_tcp_rejected_total", "TCP connections closed at once for being over tcp.max_connections or tcp.max_per_client.",
		func(s proxy.Stats) float64 { return float64(s.TCPRejected) }),
	counter("nxray_no_upstream_total", "Queries no upstream answered, which nxray answered SERVFAIL.",
		func(s proxy.Stats) float64 { return float64(s.NoUpstream) }),
	counter("nxray_upstream_mismatched_total", "Upstream answers dropped for a wrong ID or question (spoofed, late or broken).",
		func(s proxy.Stats) float64 { return float64(s.Mismatched) }),
}

// engineMetrics are diagnose.Stats as /metrics has them. Its Diagnosed is
// the sum of nxray_diagnoses_total, which counts verdicts by cause.
var engineMetrics = []scraped[diagnose.Stats]{
	counter("nxray_diagnose_observed_total", "Failures handed to the diagnosis engine.",
		func(s diagnose.Stats) float64 { return float64(s.Observed) }),
	counter("nxray_diagnose_deduplicated_total", "Failures counted onto a verdict or a diagnosis already under way.",
		func(s diagnose.Stats) float64 { return float64(s.Deduplicated) }),
	counter("nxray_diagnose_grouped_total", "Failures answered by a verdict for the same zone and rcode.",
		func(s diagnose.Stats) float64 { return float64(s.Grouped) }),
	counter("nxray_diagnose_dropped_total", "Failures not diagnosed because the queue was full.",
		func(s diagnose.Stats) float64 { return float64(s.Dropped) }),
	counter("nxray_diagnose_probes_total", "Probes the diagnosis engine sent.",
		func(s diagnose.Stats) float64 { return float64(s.Probes) }),
}

var descUp = prometheus.NewDesc("nxray_upstream_up", "1 when the upstream is up, 0 when the proxy marked it down; "+
	"zone is the forward zone it serves, \".\" for the default upstreams (every other name).", []string{"upstream", "zone"}, nil)

func (s *sources) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range proxyMetrics {
		ch <- m.desc
	}
	for _, m := range engineMetrics {
		ch <- m.desc
	}
	ch <- descUp
}

func (s *sources) Collect(ch chan<- prometheus.Metric) {
	if p := s.proxy.Load(); p != nil {
		collect(ch, proxyMetrics, p.Stats())
		for _, u := range p.Upstreams() {
			up := 1.0
			if u.Down {
				up = 0
			}
			zone := u.Zone
			if zone == "" {
				zone = "."
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, u.Upstream, zone)
		}
	}
	if e := s.engine.Load(); e != nil {
		collect(ch, engineMetrics, e.Stats())
	}
}

func collect[S any](ch chan<- prometheus.Metric, ms []scraped[S], st S) {
	for _, m := range ms {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(st))
	}
}

// buildInfo is nxray_build_info, always 1, its labels saying which nxray
// this is.
func buildInfo() prometheus.Collector {
	v := version.Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "nxray_build_info",
		Help:        "Always 1; its labels are the module version, the VCS revision and the Go version nxray was built with.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion}})
	g.Set(1)
	return g
}
