package status

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxClients bounds the per-client table: the machines failing most.
const maxClients = 50

// span is one of the timeline's views: how far back, in buckets of step.
type span struct {
	Name  string // hour or day
	Len   time.Duration
	Step  time.Duration
	Title string
}

var spans = []span{
	{"hour", time.Hour, time.Minute, "Failures per cause, last hour"},
	{"day", 24 * time.Hour, 30 * time.Minute, "Failures per cause, last day"},
}

// parseSpan reads ?span=; none means the hour.
func parseSpan(r *http.Request) (span, error) {
	name := r.URL.Query().Get("span")
	if name == "" {
		return spans[0], nil
	}
	for _, s := range spans {
		if s.Name == name {
			return s, nil
		}
	}
	return spans[0], errors.New("span wants hour or day")
}

// since is the start of sp's first bucket: buckets end on step
// boundaries, the last holding now.
func (sp span) since(now time.Time) time.Time {
	return now.Truncate(sp.Step).Add(sp.Step - sp.Len)
}

var timelineTmpl = viewTmpl("timeline.html")

// timelineData is what templates/timeline.html reads.
type timelineData struct {
	viewBase
	Span    span
	Spans   []spanLink
	Chart   string // the SVG's URL
	Clients []clientRow
	Causes  []causeRow
	Total   int
	Counted bool // history answered
}

type spanLink struct {
	Name, Link string
	Current    bool
}

type clientRow struct {
	Client string
	N      int
	Link   string // the query log for this client
}

type causeRow struct {
	Cause string
	N     int
}

// timeline serves GET /timeline: the chart and the per-client table.
func (s *Server) timeline(w http.ResponseWriter, r *http.Request) {
	d := timelineData{viewBase: s.base(r, "timeline", "timeline")}
	sp, err := parseSpan(r)
	d.Span = sp
	for _, o := range spans {
		d.Spans = append(d.Spans, spanLink{o.Name, d.link("/timeline", url.Values{"span": {o.Name}}), o.Name == sp.Name})
	}
	code := http.StatusOK
	switch {
	case err != nil:
		d.Problem, code = err.Error(), http.StatusBadRequest
	case s.cfg.History == nil:
	default:
		d.Chart = d.link("/timeline.svg", url.Values{"span": {sp.Name}})
		fc, err := s.cfg.History.Failures(r.Context(), sp.since(s.cfg.Now()), sp.Step)
		if err != nil {
			d.Problem, code = "Counting failures failed: "+err.Error(), http.StatusInternalServerError
			break
		}
		d.Counted = true
		d.Clients, d.Causes, d.Total = clientRows(d.viewBase, fc), causeRows(fc), 0
		for _, c := range d.Causes {
			d.Total += c.N
		}
	}
	s.render(w, timelineTmpl, code, d)
}

// clientRows are the clients with failures, most first, at most maxClients.
func clientRows(b viewBase, fc FailureCounts) []clientRow {
	var out []clientRow
	for c, n := range fc.Client {
		if n > 0 {
			out = append(out, clientRow{Client: c, N: n})
		}
	}
	slices.SortFunc(out, func(a, b clientRow) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Client, b.Client)
	})
	out = out[:min(len(out), maxClients)]
	for i := range out {
		out[i].Link = b.link("/queries", url.Values{"client": {out[i].Client}})
	}
	return out
}

// causeRows are the chart's totals per cause, as text beside it.
func causeRows(fc FailureCounts) []causeRow {
	ss, _ := chartSeries(fc)
	var out []causeRow
	for _, s := range ss {
		if s.total > 0 {
			out = append(out, causeRow{s.label(), s.total})
		}
	}
	return out
}

// timelineImage serves GET /timeline.svg?span=: the chart alone.
func (s *Server) timelineImage(w http.ResponseWriter, r *http.Request) {
	sp, err := parseSpan(r)
	switch {
	case err != nil:
		writeSVG(w, http.StatusBadRequest, messageSVG(chartW, chartH, err.Error()))
		return
	case s.cfg.History == nil:
		writeSVG(w, http.StatusServiceUnavailable, messageSVG(chartW, chartH, "History is off: no timeline to draw."))
		return
	}
	fc, err := s.cfg.History.Failures(r.Context(), sp.since(s.cfg.Now()), sp.Step)
	if err != nil {
		writeSVG(w, http.StatusInternalServerError, messageSVG(chartW, chartH, "Counting failures failed: "+err.Error()))
		return
	}
	writeSVG(w, http.StatusOK, timelineSVG(fc, sp.Title+" (UTC)"))
}
