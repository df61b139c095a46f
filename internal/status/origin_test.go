package status

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nxray/nxray/diagnose"
)

// A page on another site cannot make nxray explain (and so probe) a name,
// nor read its data, whether by <img>, fetch or a form; a link to the page
// still shows it; the page's own requests, typed addresses and scripts
// without browser headers keep working.
func TestCrossSite(t *testing.T) {
	const (
		cross = "Sec-Fetch-Site"
		evil  = "http://evil.example"
	)
	tests := []struct {
		name    string
		method  string
		target  string
		header  []string
		want    int
		explain bool // Explain must have run
	}{
		{"img explain", "GET", "/?explain=x.test", []string{cross, "cross-site"}, 403, false},
		{"sibling explain", "GET", "/?explain=x.test", []string{cross, "same-site"}, 403, false},
		{"head explain", "HEAD", "/?explain=x.test", []string{cross, "cross-site"}, 403, false},
		{"old browser explain", "GET", "/?explain=x.test", []string{"Origin", evil}, 403, false},
		{"sandboxed explain", "GET", "/?explain=x.test", []string{"Origin", "null"}, 403, false},
		{"fetch explain API", "GET", "/api/v1/explain?name=x.test", []string{cross, "cross-site"}, 403, false},
		{"old browser explain API", "GET", "/api/v1/explain?name=x.test", []string{"Origin", evil}, 403, false},
		{"post explain API", "POST", "/api/v1/explain?name=x.test", []string{"Origin", evil}, 403, false},
		{"form post", "POST", "/", []string{cross, "cross-site", "Origin", evil}, 403, false},
		{"read diagnoses", "GET", "/api/v1/diagnoses", []string{cross, "cross-site"}, 403, false},
		{"read one", "GET", "/api/v1/diagnoses/c", []string{"Origin", evil}, 403, false},
		{"read stats", "GET", "/api/v1/stats", []string{cross, "same-site"}, 403, false},
		{"event stream", "GET", "/api/v1/events", []string{cross, "cross-site"}, 403, false},
		{"metrics", "GET", "/metrics", []string{cross, "cross-site"}, 403, false},

		{"link to the page", "GET", "/", []string{cross, "cross-site"}, 200, false},
		{"page's own form", "GET", "/?explain=x.test", []string{cross, "same-origin"}, 200, true},
		{"typed address", "GET", "/?explain=x.test", []string{cross, "none"}, 200, true},
		{"curl", "GET", "/?explain=x.test", nil, 200, true},
		{"curl explain API", "GET", "/api/v1/explain?name=x.test", nil, 200, true},
		{"old browser same origin", "GET", "/api/v1/explain?name=x.test", []string{"Origin", "http://127.0.0.1:8053"}, 200, true},
		{"page's own read", "GET", "/api/v1/diagnoses", []string{cross, "same-origin"}, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var explained atomic.Int32
			s := newTestServer(t, Config{Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
				explained.Add(1)
				return verdict("", name, diagnose.Healthy)
			}})
			w := do(t, s, tt.method, tt.target, tt.header...)
			if w.Code != tt.want {
				t.Errorf("%d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if n := explained.Load(); (n == 1) != tt.explain {
				t.Errorf("explain ran %d times, want it run: %v", n, tt.explain)
			}
			if w.Code == 403 && strings.Contains(w.Body.String(), "lame.test") && !strings.HasPrefix(tt.target, "/?") {
				t.Errorf("refusal gives data: %s", w.Body)
			}
		})
	}
}

// A cross-site link to ?explain= shows the page with the name in the form,
// one press from explaining it, and says why it was not explained.
func TestCrossSiteExplainLink(t *testing.T) {
	s := newTestServer(t, Config{Explain: func(context.Context, string, uint16) diagnose.Verdict {
		t.Error("explained a cross-site link")
		return diagnose.Verdict{}
	}})
	w := get(t, s, "/?explain=www.linked.test&type=MX", "Sec-Fetch-Site", "cross-site")
	body := w.Body.String()
	for _, want := range []string{`value="www.linked.test"`, "another site", "Press Explain"} {
		if !strings.Contains(body, want) {
			t.Errorf("%d: page lacks %s", w.Code, want)
		}
	}
}
