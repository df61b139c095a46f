package status

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nxray/nxray/diagnose"
)

// A real browser, with the headers it really sends: another site's <img>,
// fetch and link cannot make nxray explain a name or read its diagnoses; a
// name rebound to 127.0.0.1 gets 421; the page's own explain form works.
// The other site is http://localhost:PORT (a different site from
// 127.0.0.1), and rebind.test is mapped to 127.0.0.1 inside the browser, so
// nothing leaves loopback.
func TestBrowserCrossSite(t *testing.T) {
	ctx := browser(t, chromedp.Flag("host-resolver-rules", "MAP rebind.test 127.0.0.1"))
	var (
		mu        sync.Mutex
		explained []string
	)
	st := newTestServer(t, Config{Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
		mu.Lock()
		defer mu.Unlock()
		explained = append(explained, name)
		return verdict("e", name, diagnose.Healthy)
	}})
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown(context.Background()) })
	base := "http://" + st.Addr()
	explains := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), explained...)
	}

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<a id="link" href="%[1]s/?explain=link.evil.test&amp;type=MX">link</a>
<script>
var img = new Promise(function (done) {
  var i = new Image(); i.onload = i.onerror = done; i.src = "%[1]s/?explain=img.evil.test";
});
Promise.allSettled([img,
  fetch("%[1]s/api/v1/explain?name=fetch.evil.test", {mode: "no-cors"}),
  fetch("%[1]s/api/v1/diagnoses").then(function (r) { return r.text(); }),
]).then(function (rs) {
  document.body.dataset.read = rs[2].status === "fulfilled" ? rs[2].value : "";
  document.body.dataset.done = "yes";
});
</script>`, base)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	t.Run("img and fetch", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(evilURL+"/"),
			chromedp.WaitReady(chromedp.CSS(`body[data-done="yes"]`))); err != nil {
			t.Fatal(err)
		}
		read, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "data-read"))
		if err != nil || read.Value != "" {
			t.Errorf("another site read the diagnoses: %q (%v)", read.Value, err)
		}
		if got := explains(); len(got) > 0 {
			t.Errorf("another site made nxray explain %v", got)
		}
	})

	t.Run("link, then the form", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(evilURL+"/"), chromedp.Click(chromedp.CSS("#link")),
			chromedp.WaitVisible(chromedp.CSS("#ex-h"))); err != nil {
			t.Fatal(err)
		}
		msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("p.error") || {}).textContent || ""`))
		if err != nil || !strings.Contains(msg, "another site") {
			t.Errorf("the page says %q (%v)", msg, err)
		}
		if got := explains(); len(got) > 0 {
			t.Fatalf("a link from another site made nxray explain %v", got)
		}
		// One press on the page's own form explains the name it carried.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".explained"))); err != nil {
			t.Fatal(err)
		}
		if got := explains(); len(got) != 1 || got[0] != "link.evil.test." {
			t.Errorf("the page's own form explained %v, want link.evil.test.", got)
		}
	})

	t.Run("rebound name", func(t *testing.T) {
		_, port, _ := strings.Cut(st.Addr(), ":")
		if err := chromedp.Do(ctx, chromedp.Navigate("http://rebind.test:"+port+"/api/v1/diagnoses")); err != nil {
			t.Fatal(err)
		}
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil || !strings.Contains(body, "http_hosts") || strings.Contains(body, "lame.test") {
			t.Errorf("a rebound name got %.200q (%v)", body, err)
		}
	})
}
