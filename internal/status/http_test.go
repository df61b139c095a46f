package status

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// A refused explain says when the limiter will take one again.
func TestExplainRetryAfter(t *testing.T) {
	now := t0
	explain := func(context.Context, string, uint16) diagnose.Verdict {
		return verdict("", "www.ok.test.", diagnose.Healthy)
	}
	s := newTestServer(t, Config{Explain: explain, Now: func() time.Time { return now }})
	for range 5 { // the burst
		if w := get(t, s, "/api/v1/explain?name=www.ok.test"); w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	tests := []struct {
		after time.Duration // since the burst was spent
		want  string
	}{
		{0, "2"},                       // a whole token at one per 2 s
		{1500 * time.Millisecond, "1"}, // a quarter of one: 0.5 s, rounded up
	}
	for _, tt := range tests {
		now = t0.Add(tt.after)
		w := get(t, s, "/api/v1/explain?name=www.ok.test")
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tt.want {
			t.Errorf("after %v: %d Retry-After %q, want 429 with %q", tt.after, w.Code, w.Header().Get("Retry-After"), tt.want)
		}
		if e := decode[map[string]string](t, w)["error"]; !strings.Contains(e, "try again in "+tt.want+" s") {
			t.Errorf("after %v: error %q", tt.after, e)
		}
	}
	// The page's explain is limited the same way.
	w := get(t, s, "/?explain=www.ok.test")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("page: %d Retry-After %q, want 429 with one", w.Code, w.Header().Get("Retry-After"))
	}
	now = t0.Add(2 * time.Second)
	if w := get(t, s, "/api/v1/explain?name=www.ok.test"); w.Code != http.StatusOK {
		t.Errorf("once the wait is over: %d, want 200", w.Code)
	}
}

// A method the route does not take is 405 with Allow, not 404; a route
// that does not exist stays 404.
func TestMethodNotAllowed(t *testing.T) {
	s := newTestServer(t, Config{Proxy: fakeProxy{}})
	tests := []struct {
		method, target string
		code           int
		json           bool
	}{
		{http.MethodPost, "/api/v1/diagnoses", http.StatusMethodNotAllowed, true},
		{http.MethodDelete, "/api/v1/diagnoses/b", http.StatusMethodNotAllowed, true},
		{http.MethodPut, "/api/v1/explain?name=www.ok.test", http.StatusMethodNotAllowed, true},
		{http.MethodPost, "/api/v1/nothing", http.StatusNotFound, true},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed, false},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			w := do(t, s, tt.method, tt.target)
			if w.Code != tt.code {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.code)
			}
			if allow := w.Header().Get("Allow"); tt.code == http.StatusMethodNotAllowed && !strings.Contains(allow, "GET") {
				t.Errorf("Allow %q, want GET in it", allow)
			}
			if tt.json && decode[map[string]string](t, w)["error"] == "" {
				t.Errorf("no JSON error: %s", w.Body)
			}
		})
	}
	if w := get(t, s, "/api/v1/diagnoses"); w.Code != http.StatusOK {
		t.Errorf("GET: %d", w.Code)
	}
}
