package status

import (
	"crypto/subtle"
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed static/*
var staticFiles embed.FS

// csp allows only this server's own script, style and connections: no
// inline script (a name that slipped through as markup still could not run),
// no framing, no forms posting elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) routes() http.Handler {
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /queries", s.queryLog)
	mux.HandleFunc("GET /timeline", s.timeline)
	mux.HandleFunc("GET /timeline.svg", s.timelineImage)
	mux.HandleFunc("GET /diagnoses/{id}", s.diagnosisPage)
	mux.HandleFunc("GET /diagnoses/{id}/evidence.svg", s.evidenceImage)
	mux.HandleFunc("GET /api/v1/diagnoses", s.diagnoses)
	mux.HandleFunc("GET /api/v1/diagnoses/{id}", s.diagnosis)
	mux.HandleFunc("GET /api/v1/queries", s.queries)
	mux.HandleFunc("GET /api/v1/explain", s.explainAPI)
	mux.HandleFunc("GET /api/v1/stats", s.statsAPI)
	mux.HandleFunc("GET /api/v1/events", s.events)
	mux.HandleFunc("POST /api/v1/cache/flush", s.flushAPI)
	mux.HandleFunc("POST /flush", s.flushPage)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { apiFallback(mux, w, r) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Metrics.reg, promhttp.HandlerOpts{}))
	// The Host is checked first: a rebound page's Origin matches its Host,
	// so the origin check alone would let it in.
	return s.secure(s.checkHost(s.checkOrigin(s.auth(mux))))
}

// apiFallback answers what no API route takes: 405 with Allow when a GET
// (or, for the one write, the cache flush, a POST) would have found a route
// (the mux would say so itself, but this catch-all matches every method),
// else 404; both in JSON.
func apiFallback(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	routed := func(method string) bool {
		c := r.Clone(r.Context())
		c.Method = method
		_, pattern := mux.Handler(c)
		return pattern != "/api/"
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead && routed(http.MethodGet):
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+": the API is read with GET")
	case r.Method != http.MethodPost && routed(http.MethodPost):
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+": it is a write, sent with POST")
	default:
		writeError(w, http.StatusNotFound, "no such API route: "+r.URL.Path)
	}
}

// secure sets the headers every answer carries. There are deliberately no
// CORS headers: other origins cannot read the API from a browser.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // the page's links may carry ?token=
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// tokenRequired: beyond loopback always (New ensures a token), and on
// loopback when one was configured anyway.
func (s *Server) tokenRequired() bool { return !s.loopback || s.cfg.Token != "" }

// auth checks the bearer token on everything but /healthz. ?token= is taken
// only where a browser cannot send a header: the page, its static files and
// the EventSource stream; and a token form field only on the page's flush
// form (POST /flush), so that a write never carries it in its URL.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/flush" {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		if !s.tokenRequired() || r.URL.Path == "/healthz" || s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="nxray"`)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeError(w, http.StatusUnauthorized, "this status page needs its token: Authorization: Bearer TOKEN")
			return
		}
		http.Error(w, "this status page needs its token: add ?token=TOKEN to the address", http.StatusUnauthorized)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.tokenOK(tok)
	}
	p := r.URL.Path
	if r.Method == http.MethodGet && (p == "/" || strings.HasPrefix(p, "/static/") || p == "/api/v1/events" || viewRoute(p)) {
		return s.tokenOK(r.URL.Query().Get("token"))
	}
	if r.Method == http.MethodPost && p == "/flush" {
		return s.tokenOK(r.PostFormValue("token"))
	}
	return false
}

func (s *Server) tokenOK(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}
