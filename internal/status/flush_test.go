package status

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// fakeFlusher records the names it is asked to flush and says each held
// n answers.
type fakeFlusher struct {
	mu    sync.Mutex
	names []string
	n     int
}

func (f *fakeFlusher) Flush(name string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names = append(f.names, name)
	return f.n, nil
}

func (f *fakeFlusher) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// postForm sends form to target as a browser's form post; header pairs as
// for do.
func postForm(t *testing.T, s *Server, target string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	r.Host = "127.0.0.1:8053"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

// POST /api/v1/cache/flush flushes a name (and what is under it) or
// everything, answers how many went, refuses bad names and other methods,
// and counts flushes.
func TestFlushAPI(t *testing.T) {
	f := &fakeFlusher{n: 3}
	s := newTestServer(t, Config{Flusher: f})
	tests := []struct {
		name, method, target string
		code                 int
		want                 string // in the body
		asked                string // the name the flusher got; "-" for none
	}{
		{"a name", "POST", "/api/v1/cache/flush?name=www.Example.test", 200, `"flushed": 3,` + "\n" + `  "name": "www.Example.test."`, "www.Example.test."},
		{"everything", "POST", "/api/v1/cache/flush", 200, `"name": ""`, ""},
		{"the root", "POST", "/api/v1/cache/flush?name=.", 200, `"name": "."`, "."},
		{"bad name", "POST", "/api/v1/cache/flush?name=a..b", 400, `"error": "\"a..b\" is not a domain name`, "-"},
		{"empty name", "POST", "/api/v1/cache/flush?name=", 400, "is not a domain name", "-"},
		{"GET", "GET", "/api/v1/cache/flush?name=x.test", 405, "GET is not allowed on /api/v1/cache/flush: it is a write, sent with POST", "-"},
		{"DELETE", "DELETE", "/api/v1/cache/flush", 405, "sent with POST", "-"},
		{"reads are still read with GET", "POST", "/api/v1/diagnoses", 405, "the API is read with GET", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.asked())
			w := do(t, s, tt.method, tt.target)
			if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) ||
				!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				t.Errorf("%d %s %s; want %d with %s", w.Code, w.Header().Get("Content-Type"), w.Body, tt.code, tt.want)
			}
			if tt.code == 405 {
				want := "POST"
				if tt.method == "POST" {
					want = "GET, HEAD"
				}
				if got := w.Header().Get("Allow"); got != want {
					t.Errorf("Allow %q, want %q", got, want)
				}
			}
			asked := f.asked()[before:]
			if (tt.asked == "-") != (len(asked) == 0) || (len(asked) == 1 && asked[0] != tt.asked) {
				t.Errorf("flusher asked %q, want %q", asked, tt.asked)
			}
		})
	}
	m := get(t, s, "/metrics").Body.String()
	for _, want := range []string{`nxray_cache_flushes_total{scope="all"} 2`, `nxray_cache_flushes_total{scope="name"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	noCache := newTestServer(t, Config{})
	if w := do(t, noCache, "POST", "/api/v1/cache/flush"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("without a flusher: %d %s, want 503", w.Code, w.Body)
	}
}

// A flush is a write: it needs the token in the Authorization header (a
// ?token= in the URL is not taken), and another site's page cannot make
// one, by API or by form.
func TestFlushNeedsTokenAndSameOrigin(t *testing.T) {
	f := &fakeFlusher{n: 1}
	s := newTestServer(t, Config{Flusher: f, Token: "s3cret"})
	form := url.Values{"name": {"www.example.test."}, "type": {"AAAA"}, "token": {"s3cret"}}
	noToken := url.Values{"name": {"www.example.test."}}
	tests := []struct {
		name string
		req  func() *httptest.ResponseRecorder
		code int
	}{
		{"api without token", func() *httptest.ResponseRecorder { return do(t, s, "POST", "/api/v1/cache/flush") }, 401},
		{"api with a wrong token", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush", "Authorization", "Bearer nope")
		}, 401},
		{"api with the token in the URL", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush?token=s3cret")
		}, 401},
		{"api with the token", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush", "Authorization", "Bearer s3cret")
		}, 200},
		{"api from the page itself", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush", "Authorization", "Bearer s3cret", "Sec-Fetch-Site", "same-origin")
		}, 200},
		{"api cross-site", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush", "Authorization", "Bearer s3cret", "Sec-Fetch-Site", "cross-site")
		}, 403},
		{"api from another origin, old browser", func() *httptest.ResponseRecorder {
			return do(t, s, "POST", "/api/v1/cache/flush", "Authorization", "Bearer s3cret", "Origin", "http://evil.example")
		}, 403},
		{"form without token", func() *httptest.ResponseRecorder { return postForm(t, s, "/flush", noToken) }, 401},
		{"form with the token in the URL", func() *httptest.ResponseRecorder {
			return postForm(t, s, "/flush?token=s3cret", noToken)
		}, 401},
		{"form cross-site", func() *httptest.ResponseRecorder {
			return postForm(t, s, "/flush", form, "Sec-Fetch-Site", "cross-site")
		}, 403},
		{"form same-site but another origin", func() *httptest.ResponseRecorder {
			return postForm(t, s, "/flush", form, "Sec-Fetch-Site", "same-site")
		}, 403},
		{"form from the page", func() *httptest.ResponseRecorder {
			return postForm(t, s, "/flush", form, "Sec-Fetch-Site", "same-origin")
		}, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.asked())
			w := tt.req()
			if w.Code != tt.code {
				t.Errorf("%d %s, want %d", w.Code, w.Body, tt.code)
			}
			if flushed := len(f.asked()) > before; flushed != (tt.code/100 == 2 || tt.code == 303) {
				t.Errorf("flushed: %v with answer %d", flushed, w.Code)
			}
		})
	}
}

// The page's form flushes the name and sends the browser on to the page
// explaining it again, with the type and (when the page needs it) the
// token; a bad name is refused.
func TestFlushForm(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		form     url.Values
		code     int
		location string
	}{
		{"no token needed", "", url.Values{"name": {"www.example.test."}, "type": {"AAAA"}}, 303,
			"/?explain=www.example.test.&flushed=2&type=AAAA"},
		{"a token carried on", "s3cret", url.Values{"name": {"www.example.test"}, "token": {"s3cret"}}, 303,
			"/?explain=www.example.test.&flushed=2&token=s3cret"},
		{"a hostile name", "", url.Values{"name": {`a"<b>.test`}}, 303, "/?explain=a%22%3Cb%3E.test.&flushed=2"},
		{"no name", "", url.Values{"type": {"A"}}, 400, ""},
		{"bad name", "", url.Values{"name": {"a..b"}}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFlusher{n: 2}
			s := newTestServer(t, Config{Flusher: f, Token: tt.token})
			w := postForm(t, s, "/flush", tt.form)
			if w.Code != tt.code || w.Header().Get("Location") != tt.location {
				t.Errorf("%d to %q (%s), want %d to %q", w.Code, w.Header().Get("Location"), w.Body, tt.code, tt.location)
			}
			if tt.code == 303 && len(f.asked()) != 1 {
				t.Errorf("flusher asked %q, want one name", f.asked())
			}
			if tt.code != 303 && len(f.asked()) != 0 {
				t.Errorf("flusher asked %q after a refusal", f.asked())
			}
		})
	}
}

// Each verdict has its "flush and ask again" form, the name in it as text
// however hostile, with the token when the page needs one; the page asked
// after a flush says so.
func TestPageFlushButton(t *testing.T) {
	evil := verdict("x", `"><script>alert(1)</script>.test.`, diagnose.NXDomainConfirmed)
	eng := newFakeEngine(verdict("a", "nothere.ok.test.", diagnose.NXDomainConfirmed), evil)
	s := newTestServer(t, Config{Engine: eng, Token: "s3cret", Flusher: &fakeFlusher{}})
	body := get(t, s, "/?token=s3cret").Body.String()
	if n := strings.Count(body, `<form method="post" action="/flush" class="flush">`); n != 2 {
		t.Errorf("%d flush forms, want one per verdict (2):\n%s", n, body)
	}
	for _, want := range []string{
		`<input type="hidden" name="name" value="nothere.ok.test.">`,
		`<input type="hidden" name="name" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.test.">`,
		`<input type="hidden" name="type" value="A">`,
		`<input type="hidden" name="token" value="s3cret">`,
		`data-token="s3cret"`,
		`>flush and ask again</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("page holds a raw <script>")
	}

	open := newTestServer(t, Config{Engine: eng, Flusher: &fakeFlusher{},
		Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
			return verdict("", name, diagnose.NXDomainConfirmed)
		}})
	body = get(t, open, "/").Body.String()
	if strings.Contains(body, `name="token"`) {
		t.Error("a page that needs no token carries one in its flush forms")
	}
	body = get(t, open, "/?explain=nothere.ok.test.&flushed=3").Body.String()
	if !strings.Contains(body, `Flushed 3 cached answers of <span class="mono">nothere.ok.test.</span>`) ||
		!strings.Contains(body, "advice for nothere.ok.test.") {
		t.Errorf("the page after a flush does not say so or explain again:\n%s", body)
	}
}

// Another site's link to the page with a count of answers flushed does not
// make the page claim a flush.
func TestPageFlushedNoticeOnlyFromThePage(t *testing.T) {
	s := newTestServer(t, Config{Flusher: &fakeFlusher{}})
	body := get(t, s, "/?explain=x.test&flushed=99", "Sec-Fetch-Site", "cross-site").Body.String()
	if strings.Contains(body, "Flushed 99") {
		t.Error("a cross-site link made the page say it flushed")
	}
}
