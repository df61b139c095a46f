package status

import (
	"net/http"
	"strings"
)

// checkOrigin refuses cross-origin requests that read data or make nxray
// work. http.CrossOriginProtection judges unsafe methods and lets every
// GET through by design, yet here GETs read the diagnoses (names this
// machine failed to resolve) and /api/v1/explain sends probes; so under
// /api/ and at /metrics a GET is judged as a POST would be. Requests that
// carry neither Sec-Fetch-Site nor Origin (curl, scripts, Prometheus) pass.
// The page itself refuses a cross-site ?explain= on its own (see page), so
// that a link to it still shows the page. There are deliberately no CORS
// headers: other origins cannot read answers either. The views beside the
// page (/queries, /timeline, /diagnoses/{id}) open from another site's link
// too, but not in its fetch; their SVGs answer only the views (crossSiteView).
func (s *Server) checkOrigin(next http.Handler) http.Handler {
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse(w, r, http.StatusForbidden, "cross-site request refused: the status page's API, metrics and explains "+
			"answer the page itself and scripts, not other sites' pages")
	})
	s.cop.SetDenyHandler(deny)
	guarded := s.cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if (strings.HasPrefix(p, "/api/") || p == "/metrics" || crossSiteView(r)) && s.crossSite(r) {
			deny(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// crossSite says whether a browser sent r from another origin (or site):
// Sec-Fetch-Site is cross-site or same-site, or, from a browser too old for
// it, Origin does not match Host.
func (s *Server) crossSite(r *http.Request) bool { return s.cop.Check(asUnsafe(r)) != nil }

// asUnsafe is r as if its method were POST, so that
// CrossOriginProtection.Check judges it rather than waving a GET through.
func asUnsafe(r *http.Request) *http.Request {
	u := r.WithContext(r.Context()) // a shallow copy: r keeps its method
	u.Method = http.MethodPost
	return u
}
