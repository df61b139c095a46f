package status

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nxray/nxray/proxy"
)

// This file is the cache flush: POST /api/v1/cache/flush for scripts and
// nxray flush, and POST /flush for the page's "flush and ask again" button,
// a plain HTML form that works without the script. Both are writes: the
// token (a header for the API, a form field for the page, never the URL)
// and the same-origin check guard them as every unsafe method.

// Flusher empties the proxy's answer cache; *proxy.Server has it. Safe for
// concurrent use.
type Flusher interface {
	// Flush removes the cached answers of name and of every name under it,
	// every type, or all of them when name is "", and says how many went.
	// The error is for a name that is not a domain name.
	Flush(name string) (int, error)
}

var _ Flusher = (*proxy.Server)(nil)

// maxFormBytes bounds the page's flush form: a name, a type and a token.
const maxFormBytes = 4 << 10

// flushView is the API's answer.
type flushView struct {
	Flushed int    `json:"flushed"`
	Name    string `json:"name"` // fully qualified; "" when everything was flushed
}

// flushAPI answers POST /api/v1/cache/flush?name=NAME; without a name it
// flushes everything.
func (s *Server) flushAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, err := flushName(q.Get("name"), q.Has("name"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n, code, err := s.flush(name)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, flushView{Flushed: n, Name: name})
}

// flushPage takes the page's form (name, type, token), flushes the name
// and sends the browser on to the page explaining it again.
func (s *Server) flushPage(w http.ResponseWriter, r *http.Request) {
	raw := r.PostFormValue("name") // the body is bounded by auth (maxFormBytes)
	name, err := flushName(raw, true)
	if err == nil && name == "" {
		err = errBadFlushName(raw)
	}
	n, code := 0, http.StatusBadRequest
	if err == nil {
		n, code, err = s.flush(name)
	}
	if err != nil {
		http.Error(w, "not flushed: "+err.Error(), code)
		return
	}
	v := url.Values{"explain": {name}, "flushed": {strconv.Itoa(n)}}
	if t := r.PostFormValue("type"); t != "" {
		v.Set("type", t)
	}
	if tok := r.PostFormValue("token"); tok != "" && s.tokenRequired() {
		v.Set("token", tok) // as the page's own links carry it
	}
	http.Redirect(w, r, "/?"+v.Encode(), http.StatusSeeOther)
}

// flushName reads the name to flush: "" (everything) when absent, else a
// domain name, fully qualified; "." is the root, everything too.
func flushName(raw string, given bool) (string, error) {
	name := strings.TrimSpace(raw)
	if !given {
		return "", nil
	}
	if name == "" {
		return "", errBadFlushName(raw)
	}
	fq := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fq); !ok || len(fq) > 255 || strings.ContainsAny(fq, " \t\r\n") {
		return "", errBadFlushName(raw)
	}
	return fq, nil
}

type errBadFlushName string

func (e errBadFlushName) Error() string {
	return strconv.Quote(string(e)) + " is not a domain name: give ?name=example.com to flush it and every name " +
		"under it, or no name at all to flush everything"
}

// flush asks the Flusher and counts the flush; code is the HTTP status to
// answer when err is set.
func (s *Server) flush(name string) (int, int, error) {
	if s.cfg.Flusher == nil {
		return 0, http.StatusServiceUnavailable, errNoFlusher
	}
	n, err := s.cfg.Flusher.Flush(name)
	if err != nil {
		return 0, http.StatusBadRequest, err
	}
	scope := "name"
	if name == "" || name == "." {
		scope = "all"
	}
	s.cfg.Metrics.flushes.WithLabelValues(scope).Inc()
	return n, http.StatusOK, nil
}

var errNoFlusher = errors.New("there is no cache to flush here")

// newFlushCounter is nxray_cache_flushes_total, at zero for both scopes.
func newFlushCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nxray_cache_flushes_total",
		Help: "Cache flushes asked for through the API, nxray flush or the page, by scope (all, name)."}, []string{"scope"})
	c.WithLabelValues("all")
	c.WithLabelValues("name")
	return c
}
