package status

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// A name full of markup is shown as text, and the page lists what the
// filters ask for.
func TestPage(t *testing.T) {
	evil := verdict("x", `<script>alert("x")</script>&.ok.test.`, diagnose.NXDomainConfirmed)
	evil.Advice = `<b onmouseover="alert(1)">`
	flood := verdict("f", "first.flood.test.", diagnose.NXDomainConfirmed)
	flood.Grouped, flood.GroupedNames = 7, []string{"r1.flood.test.", `<i>r2</i>.flood.test.`}
	s := newTestServer(t, Config{Proxy: fakeProxy{}, Engine: newFakeEngine(append(sampleVerdicts(), evil, flood)...)})

	w := get(t, s, "/")
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;.ok.test.`, `&lt;b onmouseover=&#34;alert(1)&#34;&gt;`,
		`name="viewport"`, `<script src="/static/live.js" defer></script>`, "www.lame.test.",
		`class="badge cause-lame_delegation"`, "advice for www.dsmismatch.test.", "127.0.0.12:53", "30%", "NXDOMAIN 4",
		`<span class="state down">down</span>`,
		`Also counts 7 failures of other names in the same zone with the same rcode, not probed on their own: ` +
			`<span class="mono">r1.flood.test.</span>, <span class="mono">&lt;i&gt;r2&lt;/i&gt;.flood.test.</span>, …`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<b onmouseover", "<script>\n", "<i>r2"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds raw %q", bad)
		}
	}

	body = get(t, s, "/?cause=dnssec_bogus").Body.String()
	if !strings.Contains(body, "www.dsmismatch.test.") || strings.Contains(body, "www.lame.test.") ||
		!strings.Contains(body, `<option value="dnssec_bogus" selected>`) ||
		!strings.Contains(body, `<option value="authoritative_inconsistent">`) {
		t.Errorf("cause filter: %s", body)
	}
	body = get(t, s, "/?name=lame").Body.String()
	if !strings.Contains(body, "www.lame.test.") || strings.Contains(body, "www.dsmismatch.test.") ||
		!strings.Contains(body, `data-events="/api/v1/events?name=lame"`) {
		t.Errorf("name filter: %s", body)
	}
}

// GET /?explain=NAME&type=T shows the verdict on the page; bad input shows
// why, with a 400.
func TestPageExplain(t *testing.T) {
	s := newTestServer(t, Config{Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
		return verdict("", name, diagnose.PartialAuthoritativeOutage)
	}})
	w := get(t, s, "/?explain=www.partial.test&type=A")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "advice for www.partial.test.") ||
		!strings.Contains(w.Body.String(), "cause-partial_authoritative_outage") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	w = get(t, s, "/?explain=a..b")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "is not a domain name") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// A verdict made while a client holds the event stream reaches it, and
// Shutdown ends the stream instead of waiting for it forever.
func TestEventsAndShutdown(t *testing.T) {
	eng := newFakeEngine()
	m := NewMetrics()
	s, err := New(Config{Addr: "127.0.0.1:0", Engine: eng, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Shutdown(context.Background())
		}
	})
	<-eng.subscribed

	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/api/v1/events?cause=dnssec_bogus", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	readEvent := func() string { // one event, blank-line terminated
		var b strings.Builder
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				return b.String() + "EOF"
			}
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	if first := readEvent(); !strings.HasPrefix(first, "retry:") {
		t.Fatalf("first event %q", first)
	}
	// The filter holds back the first; the second comes through.
	eng.publish(verdict("1", "nothere.ok.test.", diagnose.NXDomainConfirmed))
	eng.publish(verdict("2", "www.dsmismatch.test.", diagnose.DNSSECBogus))
	ev := readEvent()
	data, ok := strings.CutPrefix(ev, "event: verdict\nid: 2\ndata: ")
	if !ok {
		t.Fatalf("event %q", ev)
	}
	var v diagnose.Verdict
	if err := json.Unmarshal([]byte(data), &v); err != nil || v.Name != "www.dsmismatch.test." {
		t.Fatalf("%v %+v", err, v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	stopped = true
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if rest := readEvent(); !strings.HasSuffix(rest, "EOF") {
		t.Errorf("stream still open after shutdown: %q", rest)
	}
}
