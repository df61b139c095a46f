package status

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/proxy"
)

var _ proxy.Recorder = (*Metrics)(nil)

// maxUpstreams bounds the upstreams tracked one by one; reloads that keep
// naming new ones fall into "other" rather than growing without end.
const maxUpstreams = 64

// Failure reasons of an upstream try, the values of the reason label.
const (
	reasonTimeout = iota
	reasonRefused
	reasonTLS
	reasonError
	numReasons
)

var reasonNames = [numReasons]string{"timeout", "refused", "tls", "error"}

// Metrics counts what the proxy and the engine do, for /metrics and the
// status page. Answered and Tried are called on the DNS hot path: they take
// no lock and, once an upstream or rcode has been seen, allocate nothing.
// Create it with NewMetrics; hand it to exactly one Server.
type Metrics struct {
	reg       *prometheus.Registry
	queries   *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	duration  *prometheus.HistogramVec
	responses *prometheus.CounterVec
	failures  *prometheus.CounterVec
	diagnoses *prometheus.CounterVec
	flushes   *prometheus.CounterVec // nxray_cache_flushes_total (flush.go)

	// answered caches the queries_total children by proto (0 udp, 1 tcp)
	// and rcode, so the hot path skips the label lookup.
	answered [2][16]atomic.Pointer[counterRef]
	// took holds the request duration children by proto and cached (0
	// false, 1 true), all made at the start.
	took [2][2]prometheus.Observer
	// upstreams is copied on write: readers on the hot path load it without
	// a lock; upMu serialises the rare writers.
	upstreams atomic.Pointer[map[string]*upstreamStats]
	upMu      sync.Mutex
	rate      rateRing
	sources   *sources
	attached  atomic.Bool // a started Server owns the diagnosis counters
	now       func() time.Time
}

type counterRef struct{ c prometheus.Counter }

// requestBuckets span a cache hit (tens of microseconds) to a query's
// deadline (5s by default).
var requestBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// NewMetrics builds the metrics on a private registry (never the global
// one, so tests and two servers in one process do not collide), with the Go
// runtime and process collectors and nxray_build_info.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nxray_queries_total",
			Help: "Answers sent to clients, by rcode and transport."}, []string{"rcode", "proto"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nxray_request_duration_seconds",
			Help: "Time from reading a client's query to handing its answer to the socket, " +
				"by transport and whether the cache answered.",
			Buckets: requestBuckets}, []string{"proto", "cached"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nxray_upstream_request_duration_seconds",
			Help:    "Time of one try at one upstream, answered or not.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"upstream"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nxray_upstream_responses_total",
			Help: "Answers from an upstream, by rcode; tries that got none are nxray_upstream_failures_total."},
			[]string{"upstream", "rcode"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nxray_upstream_failures_total",
			Help: "Tries at an upstream that got no answer, by reason (timeout, refused, tls, error)."}, []string{"upstream", "reason"}),
		diagnoses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nxray_diagnoses_total",
			Help: "Verdicts made by the diagnosis engine, by cause."}, []string{"cause"}),
		flushes: newFlushCounter(),
		sources: &sources{},
		now:     time.Now,
	}
	empty := map[string]*upstreamStats{}
	m.upstreams.Store(&empty)
	for p, proto := range []string{"udp", "tcp"} {
		for c, cached := range []string{"false", "true"} {
			m.took[p][c] = m.requests.WithLabelValues(proto, cached)
		}
	}
	for _, c := range diagnose.Causes {
		m.diagnoses.WithLabelValues(string(c)) // at zero, so rate() works from the start
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(), m.queries, m.requests, m.duration, m.responses, m.failures, m.diagnoses, m.sources, m.flushes)
	return m
}

// Registry is the private registry /metrics serves, for callers that add
// their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Answered counts one answer sent to a client and observes its duration.
// The rate ring takes the second from read: no clock is read here.
func (m *Metrics) Answered(proto string, rcode int, cached bool, read time.Time, d time.Duration) {
	m.rate.add(read.Unix())
	p, c := 0, 0
	if proto == "tcp" {
		p = 1
	}
	if cached {
		c = 1
	}
	m.took[p][c].Observe(d.Seconds())
	if rcode < 0 || rcode >= 16 {
		// Extended rcodes are rare enough to pay for the label lookup.
		m.queries.WithLabelValues(rcodeName(rcode), proto).Inc()
		return
	}
	slot := &m.answered[p][rcode]
	ref := slot.Load()
	if ref == nil {
		ref = &counterRef{m.queries.WithLabelValues(rcodeName(rcode), [2]string{"udp", "tcp"}[p])}
		slot.Store(ref) // two racing stores hold the same child: harmless
	}
	ref.c.Inc()
}

// Tried records one try at an upstream, and the rcode it answered. A try
// cancelled because another upstream won the race or the client went away
// says nothing about this upstream, so it is not recorded.
func (m *Metrics) Tried(upstream string, d time.Duration, rcode int, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	u := m.upstream(upstream)
	u.hist.Observe(d.Seconds())
	u.lat[u.n.Add(1)%uint64(len(u.lat))].Store(int64(d))
	if err == nil {
		m.response(u, rcode).Inc()
	}
	if err != nil {
		r := reasonOf(err)
		u.fail[r].Inc()
		f := &u.fails[u.nf.Add(1)%uint64(len(u.fails))]
		f.at.Store(m.now().UnixNano())
		f.reason.Store(uint32(r))
	}
}

// reasonOf sorts a failed try into the reason label's values: tls for a
// DoT or DoH upstream whose certificate was refused or that did not
// complete a handshake (a timeout is still a timeout).
func reasonOf(err error) int {
	var (
		ne     net.Error
		verify *tls.CertificateVerificationError
		header tls.RecordHeaderError
		alert  tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return reasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return reasonRefused
	case errors.As(err, &verify), errors.As(err, &header), errors.As(err, &alert):
		return reasonTLS
	}
	return reasonError
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return strconv.Itoa(rc)
}

// upstream finds or makes the stats of one upstream.
func (m *Metrics) upstream(name string) *upstreamStats {
	if u, ok := (*m.upstreams.Load())[name]; ok {
		return u
	}
	m.upMu.Lock()
	defer m.upMu.Unlock()
	cur := *m.upstreams.Load()
	if u, ok := cur[name]; ok {
		return u
	}
	if len(cur) >= maxUpstreams {
		name = "other"
		if u, ok := cur[name]; ok {
			return u
		}
	}
	u := &upstreamStats{name: name, hist: m.duration.WithLabelValues(name)}
	for r := range numReasons {
		u.fail[r] = m.failures.WithLabelValues(name, reasonNames[r])
	}
	next := make(map[string]*upstreamStats, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = u
	m.upstreams.Store(&next)
	return u
}

// response is the responses_total child of u and rcode, made the first
// time that rcode is seen from u.
func (m *Metrics) response(u *upstreamStats, rcode int) prometheus.Counter {
	if rcode < 0 || rcode >= len(u.rcodes) {
		return m.responses.WithLabelValues(u.name, rcodeName(rcode))
	}
	slot := &u.rcodes[rcode]
	ref := slot.Load()
	if ref == nil {
		ref = &counterRef{m.responses.WithLabelValues(u.name, rcodeName(rcode))}
		slot.Store(ref) // two racing stores hold the same child: harmless
	}
	return ref.c
}

// verdict counts one verdict; the Server's event hub calls it.
func (m *Metrics) verdict(c diagnose.Cause) { m.diagnoses.WithLabelValues(string(c)).Inc() }
