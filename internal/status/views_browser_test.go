package status

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nxray/nxray/diagnose"
)

// busyHistory is a history with a day's worth of plausible traffic: a few
// machines on 127.0.0.x, a lame zone, a bogus one, NXDOMAINs, and one
// client asking a hostile name.
func busyHistory(now time.Time) *viewHistory {
	h := sampleHistory()
	clients := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"}
	names := []struct{ name, qtype, rcode, id string }{
		{"www.lame.test.", "A", "SERVFAIL", "c"},
		{"www.example.test.", "AAAA", "NOERROR", ""},
		{"api.dsmismatch.test.", "A", "SERVFAIL", "b"},
		{"nothere.ok.test.", "A", "NXDOMAIN", "a"},
		{"mail.ok.test.", "MX", "NOERROR", ""},
		{"cdn.ok.test.", "A", "NOERROR", ""},
	}
	hostile := h.queries[0]
	hostile.Time = now.Add(-20 * time.Minute) // below the others, on the first page still
	h.queries = nil
	for i := range 24 {
		n := names[i%len(names)]
		h.queries = append(h.queries, QueryRecord{Time: now.Add(-time.Duration(i*37+20) * time.Second),
			Client: clients[(i*7)%len(clients)], Name: n.name, Qtype: n.qtype, Rcode: n.rcode, Cached: i%3 == 1,
			Upstream: "127.0.0.1:5300", DurationMS: float64(i%9)*3.7 + 0.4, DiagnosisID: n.id})
	}
	h.queries = append(h.queries, hostile)
	cause := func(f func(i int) int) []int {
		out := make([]int, 60)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	h.counts = FailureCounts{Cause: map[string][]int{
		string(diagnose.LameDelegation):    cause(func(i int) int { return (i * 7 % 5) / 2 }),
		string(diagnose.DNSSECBogus):       cause(func(i int) int { return map[bool]int{true: 4}[i > 40 && i < 52] }),
		string(diagnose.NXDomainConfirmed): cause(func(i int) int { return (i * 3 % 7) / 3 }),
		"":                                 cause(func(i int) int { return map[bool]int{true: 1}[i%11 == 0] }),
	}, Client: map[string]int{"127.0.0.21": 61, "127.0.0.22": 17, "127.0.0.23": 4, "127.0.0.7": 1}}
	return h
}

// viewVerdicts are the live verdicts the views' browser test shows.
func viewVerdicts() []diagnose.Verdict {
	lame := chainVerdict("c", "www.lame.test.")
	lame.Summary = "2 of lame.test.'s 5 servers do not serve it: 127.0.0.12:53 answers REFUSED, 127.0.0.13:53 does not answer"
	lame.Advice = "Ask the operator of lame.test. to remove the lame servers from the NS set at the parent, or make them serve the zone."
	evil := chainVerdict("e", hostileName)
	evil.Cause = diagnose.NXDomainConfirmed
	return []diagnose.Verdict{evil, lame, verdict("b", "api.dsmismatch.test.", diagnose.DNSSECBogus),
		verdict("a", "nothere.ok.test.", diagnose.NXDomainConfirmed)}
}

// A person opening the views in a real browser sees the query log, follows
// a failure to its permalink and sees the delegation path drawn, sees the
// timeline's chart and the clients that fail most; names full of markup
// stay text; the main page still updates live, and links to the views.
func TestBrowserViews(t *testing.T) {
	ctx := browser(t)
	now := t0.Add(time.Hour)
	eng := newFakeEngine(viewVerdicts()...)
	st := newTestServer(t, Config{Engine: eng, History: busyHistory(now), Proxy: fakeProxy{}, Now: func() time.Time { return now }})
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown(context.Background()) })
	base := "http://" + st.Addr()
	quiet := watchPage(t, ctx, "the views")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 900)); err != nil {
		t.Fatal(err)
	}
	shots := map[string][]byte{}

	t.Run("query log to permalink", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/queries"), chromedp.WaitVisible(chromedp.CSS("#queries"))); err != nil {
			t.Fatal(err)
		}
		text := mustText(t, ctx, "#queries")
		for _, want := range []string{hostileName, "www.lame.test.", "127.0.0.21", "SERVFAIL", "why?"} {
			if !strings.Contains(text, want) {
				t.Errorf("the query log shows %.300q, without %q", text, want)
			}
		}
		if n := count(t, ctx, "img"); n != 0 {
			t.Errorf("%d img elements in the query log: a name became markup", n)
		}
		shots["querylog"] = screenshot(t, ctx)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.diagnosis[href="/diagnoses/c"]`)),
			chromedp.WaitVisible(chromedp.CSS("#evidence-picture"))); err != nil {
			t.Fatal(err)
		}
		if w := imageWidth(t, ctx, "#evidence-picture"); w != 1100 {
			t.Errorf("the evidence picture is %d px wide: it did not load", w)
		}
		text = mustText(t, ctx, "main")
		for _, want := range []string{"www.lame.test.", "lame_delegation", "Ask the operator", "127.0.0.12:53", "REFUSED"} {
			if !strings.Contains(text, want) {
				t.Errorf("the permalink shows %.300q, without %q", text, want)
			}
		}
		shots["diagnosis"] = screenshot(t, ctx)
	})

	t.Run("filter", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/queries"), chromedp.WaitVisible(chromedp.CSS("#query-filter")),
			chromedp.SetValue(chromedp.CSS(`select[name="rcode"]`), "NXDOMAIN"),
			chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "yes"`), // gone once the form's answer loads
			chromedp.Click(chromedp.CSS(`#query-filter button`)),
			chromedp.WaitVisible(chromedp.CSS(`body:not([data-old]) #queries`))); err != nil {
			t.Fatal(err)
		}
		text := mustText(t, ctx, "#queries tbody")
		if !strings.Contains(text, "nothere.ok.test.") || strings.Contains(text, "www.lame.test.") {
			t.Errorf("NXDOMAIN only: %.300q", text)
		}
	})

	t.Run("timeline", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/timeline"), chromedp.WaitVisible(chromedp.CSS("#clients"))); err != nil {
			t.Fatal(err)
		}
		if w := imageWidth(t, ctx, "#timeline-chart"); w != 960 {
			t.Errorf("the chart is %d px wide: it did not load", w)
		}
		text := mustText(t, ctx, "main")
		for _, want := range []string{"127.0.0.21", "61", "dnssec_bogus", "last day"} {
			if !strings.Contains(text, want) {
				t.Errorf("the timeline shows %.300q, without %q", text, want)
			}
		}
		shots["timeline"] = screenshot(t, ctx)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href="/timeline?span=day"]`)),
			chromedp.WaitVisible(chromedp.CSS(`img[src="/timeline.svg?span=day"]`))); err != nil {
			t.Fatal(err)
		}
		if w := imageWidth(t, ctx, "#timeline-chart"); w != 960 {
			t.Errorf("the day's chart is %d px wide", w)
		}
	})

	t.Run("hostile permalink", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/diagnoses/e"), chromedp.WaitVisible(chromedp.CSS("#evidence"))); err != nil {
			t.Fatal(err)
		}
		if text := mustText(t, ctx, "#dg-h"); !strings.Contains(text, hostileName) {
			t.Errorf("the heading shows %q", text)
		}
		if w := imageWidth(t, ctx, "#evidence-picture"); w != 1100 {
			t.Errorf("the picture of a hostile name's evidence is %d px wide", w)
		}
		if n := count(t, ctx, "img, script, svg, a[href='x']"); n != 1 {
			t.Errorf("%d img/script/svg elements: a name became markup", n)
		}
	})

	t.Run("main page: nav, live verdict, permalink", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS(`body[data-live="on"]`))); err != nil {
			t.Fatal(err)
		}
		fresh := chainVerdict("n", "www.fresh.test.")
		eng.publish(fresh)
		sel := `li[data-id="n"] .permalink a`
		if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(sel)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('li[data-id="n"] details').open = true`),
			chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(`section.diagnosis[data-id="n"]`))); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS("#nav-timeline")),
			chromedp.WaitVisible(chromedp.CSS("#timeline-chart"))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("other sites cannot embed the pictures", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><img id="a" src="%[1]s/timeline.svg"><img id="b" src="%[1]s/diagnoses/c/evidence.svg">`, base)
		}))
		defer evil.Close()
		other := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site than 127.0.0.1
		if err := chromedp.Do(ctx, chromedp.Navigate(other)); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"#a", "#b"} {
			if w := imageWidth(t, ctx, id); w != 0 {
				t.Errorf("another site's %s loaded, %d px wide", id, w)
			}
		}
	})

	if os.Getenv("NXRAY_SCREENSHOTS") != "" {
		for name, png := range shots {
			path := filepath.Join("..", "..", "docs", name+".png") // internal/status -> module root
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot written to %s", path)
		}
	}
	quiet()
}

func mustText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return text
}

func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// imageWidth waits for the image to finish (loaded or failed) and returns
// its natural width: 0 when it did not load.
func imageWidth(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	js := fmt.Sprintf(`(function(){var i=document.querySelector(%q); return i && i.complete ? String(i.naturalWidth) : false})()`, sel)
	w, err := chromedp.Run(ctx, chromedp.Poll[string](js, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	var n int
	fmt.Sscan(w, &n)
	return n
}

func screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	return png
}
