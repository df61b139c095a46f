package status

import (
	"errors"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The query log lists what the filter asks for, newest first, links each
// failure to its verdict and keeps every name as text.
func TestQueryLog(t *testing.T) {
	tests := []struct {
		name   string
		target string
		code   int
		asked  QueryFilter // what History was asked (Limit 100 implied)
		want   []string
		absent []string
	}{
		{"everything", "/queries", 200, QueryFilter{},
			[]string{`<a class="diagnosis" href="/diagnoses/a">why?</a>`, `<a class="diagnosis" href="/diagnoses/old">why?</a>`,
				html.EscapeString(hostileName), "www.ok.test.", `<tr class="failed">`, "cached", "40.5 ms",
				`href="/queries?client=127.0.0.7"`, `<option value="NXDOMAIN">`,
				`title="12 queries alike, the last at 2026-05-01 12:57:00">×12</span>`},
			[]string{"<script>alert", `</svg><`, `id="older"`, "×1<", "×0<"}},
		{"by client and rcode", "/queries?client=127.0.0.7&rcode=NXDOMAIN", 200,
			QueryFilter{Client: "127.0.0.7", Rcode: "NXDOMAIN"},
			[]string{html.EscapeString(hostileName), `<option value="NXDOMAIN" selected>`, `value="127.0.0.7"`},
			[]string{"www.ok.test.", "gone.ok.test."}},
		{"by name", "/queries?name=WWW.LAME.TEST", 200, QueryFilter{Name: "WWW.LAME.TEST"},
			[]string{"www.lame.test.", "/diagnoses/c"}, []string{"www.ok.test."}},
		{"time range", "/queries?since=2026-05-01T12:57&until=2026-05-01T12:58:30", 200,
			QueryFilter{Since: t0.Add(57 * time.Minute), Until: t0.Add(58*time.Minute + 30*time.Second)},
			[]string{"www.lame.test.", "www.ok.test."}, []string{"gone.ok.test.", "/diagnoses/a"}},
		{"rfc 3339", "/queries?since=2026-05-01T14:00:00%2B02:00", 200, QueryFilter{Since: t0},
			[]string{"gone.ok.test."}, nil},
		{"bad client", "/queries?client=evil<b>", 400, QueryFilter{},
			[]string{"client wants an IP address", `value="evil&lt;b&gt;"`}, []string{"evil<b>"}},
		{"bad rcode", "/queries?rcode=BOGUS", 400, QueryFilter{}, []string{"rcode wants one of"}, nil},
		{"bad time", "/queries?since=yesterday", 400, QueryFilter{}, []string{"since wants a time"}, nil},
		{"until before since", "/queries?since=2026-05-01T12:00&until=2026-05-01T11:00", 400, QueryFilter{},
			[]string{"until is before since"}, nil},
		{"long name", "/queries?name=" + strings.Repeat("a", 300), 400, QueryFilter{}, []string{"longer than any DNS name"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sampleHistory()
			s := newTestServer(t, Config{History: h})
			w := get(t, s, tt.target)
			body := w.Body.String()
			if w.Code != tt.code || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s, want %d", w.Code, w.Header().Get("Content-Type"), tt.code)
			}
			if tt.code == 200 {
				tt.asked.Limit = queryLogLimit
				if !h.asked.Since.Equal(tt.asked.Since) || !h.asked.Until.Equal(tt.asked.Until) {
					t.Errorf("asked since %v until %v, want %v %v", h.asked.Since, h.asked.Until, tt.asked.Since, tt.asked.Until)
				}
				h.asked.Since, h.asked.Until, tt.asked.Since, tt.asked.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				if h.asked != tt.asked {
					t.Errorf("asked %+v, want %+v", h.asked, tt.asked)
				}
			}
			for _, want := range tt.want {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			for _, bad := range tt.absent {
				if strings.Contains(body, bad) {
					t.Errorf("page holds %s", bad)
				}
			}
		})
	}
}

// Past a page of queries, "older" follows the cursor, keeping the filter;
// the next page links back to the newest.
func TestQueryLogOlder(t *testing.T) {
	h := sampleHistory()
	for i := range 150 {
		h.queries = append(h.queries, QueryRecord{Time: t0.Add(-time.Duration(i) * time.Second), Client: "127.0.0.7",
			Name: "many.ok.test.", Qtype: "A", Rcode: "NXDOMAIN"})
	}
	s := newTestServer(t, Config{History: h})
	body := get(t, s, "/queries?client=127.0.0.7").Body.String()
	const older = `<a href="/queries?client=127.0.0.7&amp;cursor=100" id="older">older</a>`
	if !strings.Contains(body, older) || strings.Contains(body, `id="newest"`) {
		t.Fatalf("first page: no %s", older)
	}
	body = get(t, s, "/queries?client=127.0.0.7&cursor=100").Body.String()
	if h.asked.Cursor != "100" || !strings.Contains(body, `<a href="/queries?client=127.0.0.7" id="newest">`) ||
		strings.Contains(body, `id="older"`) || strings.Count(body, ">many.ok.test.<") != 52 {
		t.Errorf("second page: cursor %q, %d rows", h.asked.Cursor, strings.Count(body, ">many.ok.test.<"))
	}
}

// Without history the log says so and how to turn it on; a store that
// stopped writing says why; a failed read is an error, not an empty log.
func TestQueryLogHistoryState(t *testing.T) {
	s := newTestServer(t, Config{})
	w := get(t, s, "/queries")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "History is off") ||
		!strings.Contains(w.Body.String(), "history.path") || strings.Contains(w.Body.String(), "No queries match") {
		t.Errorf("history off: %d %s", w.Code, w.Body)
	}
	h := sampleHistory()
	h.unwell = "disk full: <no space>"
	s = newTestServer(t, Config{History: h})
	if body := get(t, s, "/queries").Body.String(); !strings.Contains(body, "History is not being written: disk full: &lt;no space&gt;") ||
		!strings.Contains(body, "www.lame.test.") {
		t.Errorf("unwell: %s", body)
	}
	h.err = errors.New("database is locked")
	w = get(t, s, "/queries")
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "Reading the query log failed: database is locked") {
		t.Errorf("read error: %d %s", w.Code, w.Body)
	}
}

// With a token, the views take it as ?token= like the page, and every
// link and form carries it on.
func TestViewsToken(t *testing.T) {
	s := newTestServer(t, Config{History: sampleHistory(), Token: "s3cret"})
	for _, p := range []string{"/queries", "/timeline", "/timeline.svg", "/diagnoses/c", "/diagnoses/c/evidence.svg"} {
		if w := get(t, s, p); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", p, w.Code)
		}
		sep := "?"
		if strings.Contains(p, "?") {
			sep = "&"
		}
		if w := get(t, s, p+sep+"token=s3cret"); w.Code != http.StatusOK {
			t.Errorf("%s with the token: %d", p, w.Code)
		}
	}
	body := get(t, s, "/queries?token=s3cret").Body.String()
	for _, want := range []string{`href="/diagnoses/a?token=s3cret"`, `href="/timeline?token=s3cret"`,
		`<input type="hidden" name="token" value="s3cret">`, `href="/static/style.css?token=s3cret"`,
		`href="/queries?client=127.0.0.7&amp;token=s3cret"`} {
		if !strings.Contains(body, want) {
			t.Errorf("query log lacks %s", want)
		}
	}
	body = get(t, s, "/timeline?token=s3cret").Body.String()
	if !strings.Contains(body, `src="/timeline.svg?span=hour&amp;token=s3cret"`) {
		t.Errorf("timeline's chart lacks the token: %s", body)
	}
	body = get(t, s, "/diagnoses/c?token=s3cret").Body.String()
	if !strings.Contains(body, `src="/diagnoses/c/evidence.svg?token=s3cret"`) {
		t.Errorf("diagnosis's picture lacks the token: %s", body)
	}
	body = get(t, s, "/?token=s3cret").Body.String()
	for _, want := range []string{`href="/diagnoses/c?token=s3cret"`, `href="/queries?token=s3cret"`} {
		if !strings.Contains(body, want) {
			t.Errorf("main page lacks %s", want)
		}
	}
}
