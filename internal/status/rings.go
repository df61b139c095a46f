package status

import (
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// upstreamStats is what the page shows of one upstream beyond the
// histogram: its recent latencies and failures, in fixed rings written
// without a lock. A reader may see a slot mid-update; for percentiles on a
// status page that is good enough, and it keeps the hot path lock-free.
type upstreamStats struct {
	name string // its label: the upstream, or "other" past maxUpstreams
	hist prometheus.Observer
	fail [numReasons]prometheus.Counter
	// rcodes caches the responses_total children by rcode, made as each
	// is first seen.
	rcodes [16]atomic.Pointer[counterRef]
	lat    [256]atomic.Int64 // durations in ns; slot n%len written by the n-th try
	n      atomic.Uint64     // tries recorded
	// fails holds the latest failures; nf counts every failure.
	fails [8]struct {
		at     atomic.Int64 // unix ns
		reason atomic.Uint32
	}
	nf atomic.Uint64
}

// UpstreamView is one upstream as the page and /api/v1/stats show it.
type UpstreamView struct {
	Upstream string        `json:"upstream"`
	Zone     string        `json:"zone,omitempty"` // the forward zone it serves; "" for every other name
	Up       bool          `json:"up"`
	Tries    uint64        `json:"tries"`
	P50      time.Duration `json:"-"`
	P95      time.Duration `json:"-"`
	P50ms    float64       `json:"p50_ms"`
	P95ms    float64       `json:"p95_ms"`
	Failures uint64        `json:"failures"`
	Recent   []FailureView `json:"recent_failures"`
}

// FailureView is one recent failed try.
type FailureView struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

// view reads the rings of one upstream.
func (u *upstreamStats) view(name string, up bool) UpstreamView {
	v := UpstreamView{Upstream: name, Up: up, Tries: u.n.Load(), Failures: u.nf.Load(), Recent: []FailureView{}}
	n := min(v.Tries, uint64(len(u.lat)))
	lat := make([]int64, 0, n)
	for i := range n {
		lat = append(lat, u.lat[(v.Tries-i)%uint64(len(u.lat))].Load())
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		v.P50 = time.Duration(lat[(len(lat)-1)*50/100])
		v.P95 = time.Duration(lat[(len(lat)-1)*95/100])
		v.P50ms, v.P95ms = ms(v.P50), ms(v.P95)
	}
	for i := range min(v.Failures, uint64(len(u.fails))) {
		f := &u.fails[(v.Failures-i)%uint64(len(u.fails))]
		v.Recent = append(v.Recent, FailureView{Time: time.Unix(0, f.at.Load()).UTC(), Reason: reasonNames[f.reason.Load()]})
	}
	sort.SliceStable(v.Recent, func(i, j int) bool { return v.Recent[i].Time.After(v.Recent[j].Time) })
	return v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// upstreamViews lists the proxy's upstreams in its order, then any others
// that were tried (an upstream dropped by a reload keeps its history).
func (m *Metrics) upstreamViews(p Proxy) []UpstreamView {
	tracked := *m.upstreams.Load()
	var out []UpstreamView
	seen := map[string]bool{}
	if p != nil {
		for _, st := range p.Upstreams() {
			seen[st.Upstream] = true
			v := UpstreamView{Upstream: st.Upstream, Up: !st.Down, Recent: []FailureView{}}
			if u, ok := tracked[st.Upstream]; ok {
				v = u.view(st.Upstream, !st.Down)
			}
			v.Zone = st.Zone
			out = append(out, v)
		}
	}
	var rest []string
	for name := range tracked {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		v := tracked[name].view(name, true)
		out = append(out, v)
	}
	return out
}

// rateRing counts answers per second over the last minute. Slots are
// reused by second; a writer that finds a slot from an older second resets
// it. Two writers racing on that reset may lose a count: the page shows a
// rate, not an audit.
type rateRing struct {
	slots [64]struct {
		sec atomic.Int64
		n   atomic.Uint64
	}
}

func (r *rateRing) add(sec int64) {
	s := &r.slots[sec&63]
	if old := s.sec.Load(); old != sec && s.sec.CompareAndSwap(old, sec) {
		s.n.Store(0)
	}
	s.n.Add(1)
}

// perSecond averages the window seconds before now (the current, partial
// second left out).
func (r *rateRing) perSecond(now int64, window int64) float64 {
	if window <= 0 {
		return 0
	}
	var sum uint64
	for sec := now - window; sec < now; sec++ {
		s := &r.slots[sec&63]
		if s.sec.Load() == sec {
			sum += s.n.Load()
		}
	}
	return float64(sum) / float64(window)
}
