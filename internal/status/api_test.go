package status

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// A script reading /api/v1/diagnoses gets the documented field names,
// newest first, and can narrow by name, cause and count.
func TestDiagnosesAPI(t *testing.T) {
	s := newTestServer(t, Config{Proxy: fakeProxy{}})

	w := get(t, s, "/api/v1/diagnoses")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	raw := decode[struct{ Diagnoses []map[string]any }](t, w)
	if len(raw.Diagnoses) != 3 {
		t.Fatalf("want 3 diagnoses, got %s", w.Body)
	}
	for _, k := range []string{"id", "name", "qtype", "rcode", "cause", "summary", "advice", "upstream",
		"first_seen", "last_seen", "count", "duration_ms", "evidence", "live"} {
		if _, ok := raw.Diagnoses[0][k]; !ok {
			t.Errorf("verdict lacks field %q: %v", k, raw.Diagnoses[0])
		}
	}

	tests := []struct {
		query string
		want  []string // IDs, in order
	}{
		{"", []string{"c", "b", "a"}},
		{"?name=DSMISMATCH", []string{"b"}},
		{"?name=.test.", []string{"c", "b", "a"}},
		{"?cause=lame_delegation", []string{"c"}},
		{"?cause=healthy", nil},
		{"?name=ok.test&cause=nxdomain_confirmed", []string{"a"}},
		{"?limit=2", []string{"c", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := get(t, s, "/api/v1/diagnoses"+tt.query)
			got := decode[struct{ Diagnoses []diagnose.Verdict }](t, w)
			var ids []string
			for _, v := range got.Diagnoses {
				ids = append(ids, v.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}

	for _, bad := range []string{"?cause=nonsense", "?limit=0", "?limit=x"} {
		if w := get(t, s, "/api/v1/diagnoses"+bad); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, w.Code)
		}
	}

	w = get(t, s, "/api/v1/diagnoses/b")
	if v := decode[diagnose.Verdict](t, w); w.Code != http.StatusOK || v.Name != "www.dsmismatch.test." {
		t.Errorf("by id: %d %+v", w.Code, v)
	}
	w = get(t, s, "/api/v1/diagnoses/nope")
	if e := decode[map[string]string](t, w); w.Code != http.StatusNotFound || !strings.Contains(e["error"], "nope") {
		t.Errorf("unknown id: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/api/v1/nothing"); w.Code != http.StatusNotFound || decode[map[string]string](t, w)["error"] == "" {
		t.Errorf("unknown route: %d %s", w.Code, w.Body)
	}
}

// Explaining on demand checks its input, answers the verdict, and refuses
// politely (429) when asked too often.
func TestExplainAPI(t *testing.T) {
	var asked []string
	explain := func(_ context.Context, name string, qt uint16) diagnose.Verdict {
		asked = append(asked, name+" "+dns.TypeToString[qt])
		v := verdict("", name, diagnose.Healthy)
		v.Qtype = dns.TypeToString[qt]
		return v
	}
	s := newTestServer(t, Config{Explain: explain})

	for _, bad := range []string{"", "?name=", "?name=a..b", "?name=" + strings.Repeat("a.", 130), "?name=ok.test&type=NOPE"} {
		if w := get(t, s, "/api/v1/explain"+bad); w.Code != http.StatusBadRequest || decode[map[string]string](t, w)["error"] == "" {
			t.Errorf("%q: %d %s, want 400 with an error", bad, w.Code, w.Body)
		}
	}
	w := get(t, s, "/api/v1/explain?name=www.ok.test&type=aaaa")
	if v := decode[diagnose.Verdict](t, w); w.Code != http.StatusOK || v.Name != "www.ok.test." || v.Qtype != "AAAA" || v.Cause != diagnose.Healthy {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// The clock stands still, so the burst is all there is.
	var codes []int
	for range 6 {
		codes = append(codes, get(t, s, "/api/v1/explain?name=www.ok.test").Code)
	}
	if codes[len(codes)-1] != http.StatusTooManyRequests || slices.Index(codes, http.StatusTooManyRequests) != 4 {
		t.Errorf("codes %v: want 200 until the burst of 5 is spent, then 429", codes)
	}
	if len(asked) != 5 {
		t.Errorf("explain ran %d times, want 5 (bad input and 429 run nothing): %v", len(asked), asked)
	}

	noExplain := newTestServer(t, Config{})
	if w := get(t, noExplain, "/api/v1/explain?name=www.ok.test"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("without Explain: %d, want 503", w.Code)
	}
}

// /api/v1/stats gives the proxy's and the engine's counters, /healthz ok.
func TestStatsAPI(t *testing.T) {
	now := t0
	s := newTestServer(t, Config{Proxy: fakeProxy{}, Now: func() time.Time { return now }})
	now = now.Add(time.Hour)
	st := decode[statsView](t, get(t, s, "/api/v1/stats"))
	if st.Proxy == nil || st.Proxy.Queries != 10 || st.Proxy.CacheHitRatio != 0.3 || st.Engine.Probes != 40 {
		t.Errorf("%+v %+v", st.Proxy, st.Engine)
	}
	if len(st.Upstreams) != 2 || !st.Upstreams[0].Up || st.Upstreams[1].Up {
		t.Errorf("upstreams %+v", st.Upstreams)
	}
	if st.Causes["dnssec_bogus"] != 1 || st.UptimeSeconds != 3600 {
		t.Errorf("causes %v uptime %v", st.Causes, st.UptimeSeconds)
	}
	if w := get(t, s, "/healthz"); w.Code != http.StatusOK || w.Body.String() != "ok\n" {
		t.Errorf("healthz %d %q", w.Code, w.Body)
	}
}

// Every answer carries the strict CSP and nosniff, and none invites
// another origin in.
func TestSecurityHeaders(t *testing.T) {
	s := newTestServer(t, Config{Proxy: fakeProxy{}})
	for _, path := range []string{"/", "/api/v1/diagnoses", "/api/v1/diagnoses/nope", "/metrics", "/healthz", "/static/live.js"} {
		w := get(t, s, path, "Origin", "https://evil.example")
		h := w.Header()
		if got := h.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q", path, got)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: CORS header %s", path, k)
			}
		}
	}
	for _, part := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("CSP lacks %s", part)
		}
	}
}

// Beyond loopback the page refuses to start without a token, and with one
// lets in only requests that carry it; /healthz stays open for probes.
// Nothing here binds: the handler is called directly.
func TestTokenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"192.0.2.10:8053", "0.0.0.0:8053", ":8053", "[::]:8053"} {
		if _, err := New(Config{Addr: addr, Engine: newFakeEngine()}); err == nil || !strings.Contains(err.Error(), "http_token") {
			t.Errorf("%s without a token: %v, want an error naming http_token", addr, err)
		}
	}
	s := newTestServer(t, Config{Addr: "192.0.2.10:8053", Token: "s3cret", Proxy: fakeProxy{}})
	tests := []struct {
		target string
		header []string
		want   int
	}{
		{"/healthz", nil, 200},
		{"/api/v1/stats", nil, 401},
		{"/api/v1/stats", []string{"Authorization", "Bearer wrong"}, 401},
		{"/api/v1/stats", []string{"Authorization", "s3cret"}, 401},
		{"/api/v1/stats", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/api/v1/stats?token=s3cret", nil, 401}, // the API wants the header
		{"/metrics", nil, 401},
		{"/metrics", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/", nil, 401},
		{"/?token=wrong", nil, 401},
		{"/?token=s3cret", nil, 200},
		{"/static/live.js?token=s3cret", nil, 200},
	}
	for _, tt := range tests {
		if w := get(t, s, tt.target, tt.header...); w.Code != tt.want {
			t.Errorf("%s %v: %d, want %d", tt.target, tt.header, w.Code, tt.want)
		}
	}
	// The page carries the token on into its script, stream and forms.
	body := get(t, s, "/?token=s3cret").Body.String()
	for _, want := range []string{`src="/static/live.js?token=s3cret"`, `data-events="/api/v1/events?token=s3cret"`,
		`name="token" value="s3cret"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// On loopback without a token, nothing is asked.
	open := newTestServer(t, Config{})
	if w := get(t, open, "/api/v1/stats"); w.Code != http.StatusOK {
		t.Errorf("loopback: %d", w.Code)
	}
}

// Explaining a query-only or meta type makes no sense, and AXFR would ask
// the zone's servers for the whole zone: 400, and nothing runs.
func TestExplainQueryOnlyTypes(t *testing.T) {
	var explained atomic.Int32
	s := newTestServer(t, Config{Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
		explained.Add(1)
		return verdict("", name, diagnose.Healthy)
	}})
	for _, typ := range []string{"AXFR", "axfr", "IXFR", "ANY", "OPT", "MAILA", "MAILB", "TKEY", "TSIG", "Reserved"} {
		w := get(t, s, "/api/v1/explain?name=example.test&type="+typ)
		if e := decode[map[string]string](t, w); w.Code != http.StatusBadRequest || !strings.Contains(e["error"], "such as A") {
			t.Errorf("%s: %d %s, want 400 with an error", typ, w.Code, w.Body)
		}
		if w := get(t, s, "/?explain=example.test&type="+typ); w.Code != http.StatusBadRequest ||
			!strings.Contains(w.Body.String(), "such as A") {
			t.Errorf("page %s: %d, want 400 with the reason", typ, w.Code)
		}
	}
	if n := explained.Load(); n != 0 {
		t.Errorf("explain ran %d times", n)
	}
	if w := get(t, s, "/api/v1/explain?name=example.test&type=CAA"); w.Code != http.StatusOK {
		t.Errorf("CAA: %d %s", w.Code, w.Body)
	}
}

// The verdict's JSON keeps nxray's EDE (ede) apart from the upstream's
// (upstream_ede, with text), and the page shows both.
func TestVerdictEDE(t *testing.T) {
	v := verdict("e", "www.dsmismatch.test.", diagnose.DNSSECBogus)
	v.EDE = []uint16{9}
	v.UpstreamEDE = []diagnose.EDE{{Code: 6, Text: "<b>no valid signature</b>"}, {Code: 22}}
	s := newTestServer(t, Config{Engine: newFakeEngine(v)})

	w := get(t, s, "/api/v1/diagnoses/e")
	raw := decode[map[string]any](t, w)
	if ede, ok := raw["ede"].([]any); !ok || len(ede) != 1 || ede[0] != 9.0 {
		t.Errorf("ede = %v, want [9]", raw["ede"])
	}
	up, ok := raw["upstream_ede"].([]any)
	if !ok || len(up) != 2 {
		t.Fatalf("upstream_ede = %v", raw["upstream_ede"])
	}
	first, second := up[0].(map[string]any), up[1].(map[string]any)
	if first["code"] != 6.0 || first["text"] != "<b>no valid signature</b>" || second["code"] != 22.0 || second["text"] != nil {
		t.Errorf("upstream_ede = %v", up)
	}
	body := get(t, s, "/").Body.String()
	if want := "its Extended DNS Errors: 6 (&lt;b&gt;no valid signature&lt;/b&gt;), 22; nxray's on later answers: 9"; !strings.Contains(body, want) {
		t.Errorf("page lacks %q", want)
	}
}
