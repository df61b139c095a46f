package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// apiHistory is a History for the API's tests: fixed rows, the filter it
// was last given, and an error to answer with.
type apiHistory struct {
	mu       sync.Mutex
	queries  []QueryRecord
	verdicts []diagnose.Verdict // newest first
	got      QueryFilter
	err      error
	down     string
}

func (h *apiHistory) Queries(_ context.Context, f QueryFilter) ([]QueryRecord, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = f
	if h.err != nil {
		return nil, "", h.err
	}
	return h.queries, "next-page", nil
}

func (h *apiHistory) Verdicts(_ context.Context, f VerdictFilter) ([]diagnose.Verdict, string, error) {
	if h.err != nil {
		return nil, "", h.err
	}
	var t int64
	var id string
	if f.Cursor != "" {
		var err error
		if t, id, err = parseVerdictCursor(f.Cursor); err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrBadFilter, err)
		}
	}
	var out []diagnose.Verdict
	for _, v := range h.verdicts {
		if inHistSpan(v, histSpan{since: f.Since, until: f.Until, cursor: f.Cursor}, t, id) {
			out = append(out, v)
		}
	}
	if len(out) > f.Limit {
		return out[:f.Limit], verdictCursor(out[f.Limit-1]), nil
	}
	return out, "", nil
}

func (h *apiHistory) Verdict(_ context.Context, id string) (diagnose.Verdict, bool, error) {
	for _, v := range h.verdicts {
		if v.ID == id {
			return v, true, nil
		}
	}
	return diagnose.Verdict{}, false, h.err
}

func (h *apiHistory) Failures(context.Context, time.Time, time.Duration) (FailureCounts, error) {
	return FailureCounts{}, h.err
}

func (h *apiHistory) Health() (bool, string) { return h.down == "", h.down }

func TestQueriesAPIWithoutHistory(t *testing.T) {
	s := newTestServer(t, Config{})
	w := get(t, s, "/api/v1/queries")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("%d %s; want 503 in JSON", w.Code, w.Body)
	}
}

func TestQueriesAPI(t *testing.T) {
	rec := QueryRecord{Time: t0, Client: "127.0.0.1", Name: "a.test.", Qtype: "A", Rcode: "NXDOMAIN",
		Upstream: "127.0.0.1:5300", DurationMS: 1.5, DiagnosisID: "a"}
	h := &apiHistory{queries: []QueryRecord{rec}}
	s := newTestServer(t, Config{History: h})
	now := t0.Add(time.Hour)
	w := get(t, s, "/api/v1/queries?name=a.test&client=127.0.0.1&rcode=NXDOMAIN&since=15m&until=2026-01-02T03:04:05Z&limit=5&cursor=abc")
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := QueryFilter{Name: "a.test", Client: "127.0.0.1", Rcode: "NXDOMAIN", Since: now.Add(-15 * time.Minute),
		Until: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Limit: 5, Cursor: "abc"}
	if h.got != want {
		t.Errorf("filter %+v, want %+v", h.got, want)
	}
	raw := decode[struct {
		Queries []map[string]any
		Next    string
	}](t, w)
	for _, k := range []string{"time", "client", "name", "qtype", "rcode", "cached", "upstream", "duration_ms", "diagnosis_id"} {
		if len(raw.Queries) != 1 || raw.Queries[0][k] == nil {
			t.Errorf("query lacks %q: %s", k, w.Body)
		}
	}
	if raw.Next != "next-page" {
		t.Errorf("next %q", raw.Next)
	}
	for _, tc := range []struct {
		target string
		err    error
		down   string
		code   int
		says   string
	}{
		{"/api/v1/queries?since=yesterday", nil, "", 400, "since"},
		{"/api/v1/queries?limit=0", nil, "", 400, "limit"},
		{"/api/v1/queries?cursor=x", fmt.Errorf("%w: cursor x", ErrBadFilter), "", 400, "cursor x"},
		{"/api/v1/queries", errors.New("disk I/O error"), "disk full: writing", 503, "disk full"},
	} {
		h.err, h.down = tc.err, tc.down
		w := get(t, s, tc.target)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.says) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.target, w.Code, w.Body, tc.code, tc.says)
		}
	}
}

// /api/v1/diagnoses lists live verdicts and kept ones together, newest
// first, each once (the live copy of one both hold), pages through them,
// and finds a kept one by ID.
func TestDiagnosesWithHistory(t *testing.T) {
	older := func(id string, ago time.Duration) diagnose.Verdict {
		v := verdict(id, id+".kept.test.", diagnose.NXDomainConfirmed)
		v.LastSeen = t0.Add(-ago)
		return v
	}
	staleB := verdict("b", "www.dsmismatch.test.", diagnose.DNSSECBogus)
	staleB.LastSeen, staleB.Count = t0, 1
	h := &apiHistory{verdicts: []diagnose.Verdict{staleB, older("k2", time.Minute), older("k1", time.Hour)}}
	s := newTestServer(t, Config{History: h})
	type page struct {
		Diagnoses []struct {
			ID    string
			Count int
			Live  bool
		}
		Next string
	}
	var got []string
	cur := ""
	for range 5 {
		w := get(t, s, "/api/v1/diagnoses?limit=2"+cur)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		p := decode[page](t, w)
		for _, d := range p.Diagnoses {
			got = append(got, fmt.Sprintf("%s/%v/%d", d.ID, d.Live, d.Count))
		}
		if p.Next == "" {
			break
		}
		cur = "&cursor=" + p.Next
	}
	want := []string{"c/true/2", "b/true/2", "a/true/2", "k2/false/2", "k1/false/2"}
	if !slices.Equal(got, want) {
		t.Errorf("pages gave %v, want %v", got, want)
	}
	p := decode[page](t, get(t, s, "/api/v1/diagnoses?since=3h&until=62m"))
	if len(p.Diagnoses) != 1 || p.Diagnoses[0].ID != "k1" {
		t.Errorf("since/until: %+v", p)
	}
	w := get(t, s, "/api/v1/diagnoses/k1")
	if v := decode[listedJSON](t, w); w.Code != http.StatusOK || v.ID != "k1" || v.Live {
		t.Errorf("by ID: %d %s", w.Code, w.Body)
	}
	if w := get(t, s, "/api/v1/diagnoses?cursor=nonsense"); w.Code != http.StatusBadRequest {
		t.Errorf("a bad cursor: %d", w.Code)
	}
}

type listedJSON struct {
	ID   string
	Live bool
}

// The page says when history is not being written, and why; not when it is.
func TestPageHistoryNotice(t *testing.T) {
	h := &apiHistory{down: "disk full: writing: database or disk is full"}
	s := newTestServer(t, Config{History: h})
	if body := get(t, s, "/").Body.String(); !strings.Contains(body, `id="history-down"`) || !strings.Contains(body, "disk full: writing") {
		t.Errorf("page lacks the notice: %s", body)
	}
	h.down = ""
	if body := get(t, s, "/").Body.String(); strings.Contains(body, `id="history-down"`) {
		t.Error("a notice with history written")
	}
}
