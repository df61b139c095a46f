package status

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/layout.html templates/querylog.html templates/timeline.html templates/diagnosis.html
var viewFiles embed.FS

// historyOffView says, on the views that need history, why they are empty and
// how to turn history on.
const historyOffView = "History is off, so there is no query log or timeline: nxray keeps them in a file " +
	"only when one is set. Set history.path in the config file, NXRAY_HISTORY_PATH, or --history-path " +
	"(an empty path turns history off)."

var viewFuncs = template.FuncMap{
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"num":   func(f float64) string { return ftoa(f, 1) },
}

// viewTmpl parses one view with the shared layout.
func viewTmpl(file string) *template.Template {
	return template.Must(template.New(file).Funcs(viewFuncs).ParseFS(viewFiles, "templates/layout.html", "templates/"+file))
}

// viewBase is what the layout reads: the title, the nav links (carrying
// the token) and history's state.
type viewBase struct {
	Title   string
	Nav     string // which nav link is this view
	Token   string
	Links   navLinks
	Style   string // the stylesheet's URL, with the token
	Off     string // history is off: why and how to turn it on
	Unwell  string // history is not being written: its reason
	Problem string // this request's error, shown at the top
}

type navLinks struct{ Home, Queries, Timeline string }

// base fills in the layout's fields for r.
func (s *Server) base(r *http.Request, title, nav string) viewBase {
	b := viewBase{Title: title, Nav: nav}
	if s.tokenRequired() {
		b.Token = r.URL.Query().Get("token")
	}
	b.Links = navLinks{Home: b.link("/", nil), Queries: b.link("/queries", nil), Timeline: b.link("/timeline", nil)}
	b.Style = b.link("/static/style.css", nil)
	if s.cfg.History == nil {
		b.Off = historyOffView
	} else if ok, why := s.cfg.History.Health(); !ok {
		b.Unwell = "History is not being written: " + why
	}
	return b
}

// link is path with q and the token (when the page needs one).
func (b viewBase) link(path string, q url.Values) string {
	if b.Token != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("token", b.Token)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// render writes t's output for d with code, or a plain 500 when the
// template fails (it is rendered first, so a half page is never sent).
func (s *Server) render(w http.ResponseWriter, t *template.Template, code int, d any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		s.log.Debug("rendering a status view", "error", err.Error())
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// viewRoute says whether p is one of the views a browser opens by address
// or link (and so may carry ?token=, as the main page does).
func viewRoute(p string) bool {
	return p == "/queries" || p == "/timeline" || p == "/timeline.svg" || strings.HasPrefix(p, "/diagnoses/")
}

// imageRoute says whether p is an SVG the views embed: only this server's
// own pages ask for those, so another site's request is refused.
func imageRoute(p string) bool {
	return strings.HasSuffix(p, ".svg") && viewRoute(p)
}

// crossSiteView says whether r, if it came from another site, must be
// refused for reading a view's data: the SVGs always (only the views embed
// them), a view's page unless the browser is opening it (a link from
// another site to a permalink still works, as a link to / does; a fetch
// or a frame does not).
func crossSiteView(r *http.Request) bool {
	switch p := r.URL.Path; {
	case imageRoute(p):
		return true
	case viewRoute(p):
		mode := r.Header.Get("Sec-Fetch-Mode")
		return mode != "" && mode != "navigate"
	}
	return false
}
