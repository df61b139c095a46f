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

// In a real browser, with a token: the "flush and ask again" button of a
// verdict the template drew, and of one the script added live, flushes the
// name and shows the page explaining it again; another site's form cannot
// make nxray flush anything, even knowing the token.
func TestBrowserFlush(t *testing.T) {
	ctx := browser(t)
	var (
		mu        sync.Mutex
		explained []string
	)
	eng := newFakeEngine(sampleVerdicts()...)
	f := &fakeFlusher{n: 2}
	st := newTestServer(t, Config{Engine: eng, Flusher: f, Token: "s3cret",
		Explain: func(_ context.Context, name string, _ uint16) diagnose.Verdict {
			mu.Lock()
			defer mu.Unlock()
			explained = append(explained, name)
			return verdict("e", name, diagnose.Healthy)
		}})
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Shutdown(context.Background()) })
	<-eng.subscribed
	base := "http://" + st.Addr()
	explains := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), explained...)
	}

	// press clicks the flush button of the verdict with id and waits for
	// the page that comes after it.
	press := func(t *testing.T, id, name string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`li[data-id="`+id+`"] form.flush button`)),
			chromedp.WaitVisible(chromedp.CSS("p.flushed"))); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#ex-h + form ~ p.flushed")))
		if err != nil || !strings.Contains(text, "Flushed 2 cached answers of "+name) {
			t.Errorf("after the flush the page says %q (%v)", text, err)
		}
		if got := f.asked(); len(got) == 0 || got[len(got)-1] != name {
			t.Errorf("flushed %q, want %s last", got, name)
		}
		if got := explains(); len(got) == 0 || got[len(got)-1] != name {
			t.Errorf("explained %q after the flush, want %s last", got, name)
		}
		ex, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".explained")))
		if err != nil || !strings.Contains(ex, name) {
			t.Errorf("the explained verdict shows %q (%v)", ex, err)
		}
	}

	t.Run("a verdict on the page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token=s3cret"),
			chromedp.WaitVisible(chromedp.CSS(`li[data-id="a"] form.flush button`))); err != nil {
			t.Fatal(err)
		}
		press(t, "a", "nothere.ok.test.")
	})

	t.Run("a verdict that came live", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token=s3cret"),
			chromedp.WaitReady(chromedp.CSS(`body[data-live="on"]`))); err != nil {
			t.Fatal(err)
		}
		eng.publish(verdict("n", "fresh.flush.test.", diagnose.NXDomainConfirmed))
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`li[data-id="n"] form.flush button`))); err != nil {
			t.Fatal(err)
		}
		press(t, "n", "fresh.flush.test.")
	})

	t.Run("another site's form", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id="f" method="post" action="%s/flush"><input name="name" value="evil.test"><input name="token" value="s3cret"></form>
<script>document.getElementById("f").submit();</script>`, base)
		}))
		t.Cleanup(evil.Close)
		before := len(f.asked())
		if err := chromedp.Do(ctx, chromedp.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)+"/"),
			chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatal(err)
		}
		// The form's answer replaces the evil page: wait for it.
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.body && document.body.innerText.includes("cross-site request refused")`)); err != nil {
			t.Fatal(err)
		}
		if got := f.asked()[before:]; len(got) > 0 {
			t.Errorf("another site's form flushed %q", got)
		}
	})
}
