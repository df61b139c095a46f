package status

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/nxray/nxray/diagnose"
)

//go:embed templates/page.html
var templateFiles embed.FS

// pageLimit caps the verdicts the page lists; the API has them all.
const pageLimit = 200

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pct":   func(f float64) string { return ftoa(f*100, 0) + "%" },
	"num":   func(f float64) string { return ftoa(f, 1) },
	"dur":   func(d time.Duration) string { return ftoa(ms(d), 1) + " ms" },
	// entry hands the "verdict" template a verdict and the token its
	// permalink carries.
	"entry": func(v diagnose.Verdict, token string) verdictEntry { return verdictEntry{v, token} },
}).ParseFS(templateFiles, "templates/page.html"))

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

// pageData is everything the template reads.
type pageData struct {
	Stats    statsView
	Uptime   string
	Rcodes   []rcodeCount
	Causes   []diagnose.Cause
	Filter   filter
	Verdicts []diagnose.Verdict
	Total    int // verdicts matching the filter, before pageLimit

	Token  string // carried in links and forms when the page needs it
	Events string // the EventSource URL, with the filter and token
	Script string // the script's URL, with the token

	// HistoryDown says why history is not being written; "" when it is,
	// or when there is none.
	HistoryDown string

	ExplainName, ExplainType string
	Explained                *diagnose.Verdict
	ExplainError             string
	// Flushed is how many cached answers the page's flush button removed
	// before this explain (flush.go); -1 when the page was not asked
	// after a flush.
	Flushed int
}

// verdictRow is what the verdict template reads: a verdict, and the token
// its flush form carries when the page needs one.
type verdictRow struct {
	diagnose.Verdict
	Token string
}

// row makes a verdictRow of v, a Verdict or a *Verdict.
func row(token string, v any) verdictRow {
	switch v := v.(type) {
	case *diagnose.Verdict:
		return verdictRow{*v, token}
	case diagnose.Verdict:
		return verdictRow{v, token}
	}
	return verdictRow{Token: token}
}

type verdictEntry struct {
	V     diagnose.Verdict
	Token string
}

type rcodeCount struct {
	Rcode string
	N     uint64
}

// page renders the status page. GET /?explain=NAME&type=A also runs an
// explain on demand and shows its verdict at the top.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	code := http.StatusOK
	d := pageData{Stats: s.stats(), Causes: diagnose.Causes, Filter: f, Flushed: -1}
	if err != nil {
		d.Filter = filter{}
		d.ExplainError, code = err.Error(), http.StatusBadRequest
	}
	d.Uptime = s.cfg.Now().Sub(s.started).Round(time.Second).String()
	if h := s.cfg.History; h != nil {
		if ok, why := h.Health(); !ok {
			d.HistoryDown = why
		}
	}
	if d.Stats.Proxy != nil {
		for rc, n := range d.Stats.Proxy.Rcodes {
			d.Rcodes = append(d.Rcodes, rcodeCount{rc, n})
		}
		slices.SortFunc(d.Rcodes, func(a, b rcodeCount) int { return int(b.N) - int(a.N) })
	}
	all := d.Filter.apply(s.cfg.Engine.Verdicts())
	d.Total = len(all)
	d.Verdicts = all[:min(len(all), pageLimit)]
	if s.tokenRequired() {
		d.Token = r.URL.Query().Get("token")
	}
	ev := url.Values{}
	for k, v := range map[string]string{"name": d.Filter.Name, "cause": d.Filter.Cause, "token": d.Token} {
		if v != "" {
			ev.Set(k, v)
		}
	}
	d.Events = "/api/v1/events"
	d.Script = "/static/live.js"
	if len(ev) > 0 {
		d.Events += "?" + ev.Encode()
	}
	if d.Token != "" {
		d.Script += "?" + url.Values{"token": {d.Token}}.Encode()
	}
	if q := r.URL.Query(); q.Has("explain") {
		d.ExplainName, d.ExplainType = q.Get("explain"), q.Get("type")
		// Only the page's own flush form sends here with a count: another
		// site's link may not put words in the page's mouth.
		if n, err := strconv.Atoi(q.Get("flushed")); err == nil && n >= 0 && !s.crossSite(r) {
			d.Flushed = n
		}
		if s.crossSite(r) {
			// Another site's link or <img> must not make nxray probe; the
			// page still shows, with the name in the form, one press from
			// explaining it.
			d.ExplainError, code = "Not explained: the link came from another site, and explaining sends probes. "+
				"Press Explain to run it.", http.StatusForbidden
		} else if v, c, err := s.explain(r.Context(), d.ExplainName, d.ExplainType); err != nil {
			d.ExplainError, code = err.Error(), c
			setRetryAfter(w, err)
		} else {
			d.Explained = &v
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := pageTmpl.Execute(w, d); err != nil {
		s.log.Debug("rendering the status page", "error", err.Error())
	}
}
