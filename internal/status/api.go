package status

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// explainTimeout bounds one explain on demand.
const explainTimeout = 30 * time.Second

// maxLimit caps the verdicts one answer lists.
const maxLimit = 1000

// filter selects verdicts, from the query parameters name, cause and limit.
type filter struct {
	Name  string // a case-insensitive substring of the name
	Cause string // exact
	Limit int    // 0: no limit
}

func parseFilter(r *http.Request) (filter, error) {
	q := r.URL.Query()
	f := filter{Name: strings.TrimSpace(q.Get("name")), Cause: q.Get("cause")}
	if f.Cause != "" && !knownCause(f.Cause) {
		return f, errors.New("unknown cause " + strconv.Quote(f.Cause))
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return f, errors.New("limit wants a number from 1 to " + strconv.Itoa(maxLimit))
		}
		f.Limit = n
	}
	return f, nil
}

func knownCause(c string) bool {
	for _, k := range diagnose.Causes {
		if string(k) == c {
			return true
		}
	}
	return false
}

func (f filter) match(v diagnose.Verdict) bool {
	if f.Cause != "" && string(v.Cause) != f.Cause {
		return false
	}
	return f.Name == "" || strings.Contains(strings.ToLower(v.Name), strings.ToLower(f.Name))
}

// apply filters vs, newest first as the engine gives them.
func (f filter) apply(vs []diagnose.Verdict) []diagnose.Verdict {
	out := []diagnose.Verdict{} // [] rather than null in JSON
	for _, v := range vs {
		if f.match(v) {
			out = append(out, v)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
	}
	return out
}

func (s *Server) explainAPI(w http.ResponseWriter, r *http.Request) {
	v, code, err := s.explain(r.Context(), r.URL.Query().Get("name"), r.URL.Query().Get("type"))
	if err != nil {
		setRetryAfter(w, err)
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// tooMany is the error of an explain the rate limiter refused; retry is
// how long until it allows one.
type tooMany struct{ retry time.Duration }

func (e *tooMany) Error() string {
	return "too many explains; try again in " + strconv.Itoa(retrySeconds(e.retry)) + " s"
}

// retrySeconds is d in whole seconds, rounded up, at least 1: what
// Retry-After takes.
func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// setRetryAfter tells the client of a refused explain when to ask again
// (RFC 9110 section 10.2.3).
func setRetryAfter(w http.ResponseWriter, err error) {
	var tm *tooMany
	if errors.As(err, &tm) {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(tm.retry)))
	}
}

// explainWait is how long from now until the limiter has a token: the
// part of one it lacks, at its rate.
func (s *Server) explainWait(now time.Time) time.Duration {
	missing := 1 - s.limiter.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(s.limiter.Limit()) * float64(time.Second))
}

// explain checks the name and type, takes a token from the rate limiter and
// runs the diagnosis. code is the HTTP status to answer when err is set.
func (s *Server) explain(ctx context.Context, name, typ string) (diagnose.Verdict, int, error) {
	if s.cfg.Explain == nil {
		return diagnose.Verdict{}, http.StatusServiceUnavailable, errors.New("explaining on demand is not available here")
	}
	fq, qt, err := parseQuestion(name, typ)
	if err != nil {
		return diagnose.Verdict{}, http.StatusBadRequest, err
	}
	if now := s.cfg.Now(); !s.limiter.AllowN(now, 1) {
		return diagnose.Verdict{}, http.StatusTooManyRequests, &tooMany{retry: s.explainWait(now)}
	}
	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	return s.cfg.Explain(ctx, fq, qt), http.StatusOK, nil
}

// parseQuestion reads a name (presentation format, as dig takes it) and a
// record type (A when empty).
func parseQuestion(name, typ string) (string, uint16, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", 0, errors.New("name is required")
	}
	fq := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fq); !ok || len(fq) > 255 {
		return "", 0, errors.New(strconv.Quote(name) + " is not a domain name")
	}
	if typ == "" {
		return fq, dns.TypeA, nil
	}
	qt, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok || qt == dns.TypeNone || qt == dns.TypeReserved {
		return "", 0, errors.New(strconv.Quote(typ) + " is not a record type such as A, AAAA, MX or TXT")
	}
	if queryOnly(qt) {
		return "", 0, errors.New(dns.TypeToString[qt] + " is a query or meta type, not a record type a name holds: " +
			"explain a type such as A, AAAA, MX or TXT")
	}
	return fq, qt, nil
}

// queryOnly says whether no zone holds records of type qt: explaining it
// means nothing, and AXFR or IXFR would ask the zone's servers for the
// whole zone.
func queryOnly(qt uint16) bool {
	switch qt {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeANY, dns.TypeOPT, dns.TypeMAILA, dns.TypeMAILB, dns.TypeTKEY, dns.TypeTSIG:
		return true
	}
	return false
}

// statsView is /api/v1/stats.
type statsView struct {
	UptimeSeconds    float64          `json:"uptime_seconds"`
	QueriesPerSecond float64          `json:"queries_per_second"`
	Proxy            *proxyStatsView  `json:"proxy,omitempty"`
	Upstreams        []UpstreamView   `json:"upstreams"`
	Engine           engineStatsView  `json:"engine"`
	Causes           map[string]int64 `json:"verdicts_by_cause"`
}

type proxyStatsView struct {
	Queries       uint64            `json:"queries"`
	CacheHits     uint64            `json:"cache_hits"`
	CacheMisses   uint64            `json:"cache_misses"`
	CacheHitRatio float64           `json:"cache_hit_ratio"`
	CacheEntries  int               `json:"cache_entries"`
	CacheSkipped  uint64            `json:"cache_skipped"`
	ACLRefused    uint64            `json:"acl_refused"`
	Overloaded    uint64            `json:"overloaded"`
	TCPRejected   uint64            `json:"tcp_rejected"`
	NoUpstream    uint64            `json:"no_upstream"`
	Mismatched    uint64            `json:"mismatched"`
	Rcodes        map[string]uint64 `json:"rcodes"`
}

type engineStatsView struct {
	Observed     uint64 `json:"observed"`
	Deduplicated uint64 `json:"deduplicated"`
	Grouped      uint64 `json:"grouped"`
	Dropped      uint64 `json:"dropped"`
	Diagnosed    uint64 `json:"diagnosed"`
	Probes       uint64 `json:"probes"`
}

func (s *Server) stats() statsView {
	now := s.cfg.Now()
	up := now.Sub(s.started)
	v := statsView{UptimeSeconds: up.Seconds(), Upstreams: s.cfg.Metrics.upstreamViews(s.cfg.Proxy),
		Causes: map[string]int64{}}
	v.QueriesPerSecond = s.cfg.Metrics.rate.perSecond(now.Unix(), min(60, int64(up.Seconds())))
	if p := s.cfg.Proxy; p != nil {
		st := p.Stats()
		v.Proxy = &proxyStatsView{Queries: st.Queries, CacheHits: st.CacheHits, CacheMisses: st.CacheMisses,
			CacheEntries: st.CacheEntries, CacheSkipped: st.CacheSkipped, ACLRefused: st.ACLRefused, Overloaded: st.Overloaded,
			TCPRejected: st.TCPRejected, NoUpstream: st.NoUpstream, Mismatched: st.Mismatched, Rcodes: st.Rcodes}
		if n := st.CacheHits + st.CacheMisses; n > 0 {
			v.Proxy.CacheHitRatio = float64(st.CacheHits) / float64(n)
		}
	}
	es := s.cfg.Engine.Stats()
	v.Engine = engineStatsView{es.Observed, es.Deduplicated, es.Grouped, es.Dropped, es.Diagnosed, es.Probes}
	for _, vd := range s.cfg.Engine.Verdicts() {
		v.Causes[string(vd.Cause)]++
	}
	return v
}

func (s *Server) statsAPI(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.stats())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
