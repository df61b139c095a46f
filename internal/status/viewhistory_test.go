package status

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// viewHistory is a History held in memory for the views' tests: it
// filters queries as the store does and records what it was asked.
type viewHistory struct {
	mu       sync.Mutex
	queries  []QueryRecord // newest first
	verdicts map[string]diagnose.Verdict
	counts   FailureCounts
	unwell   string // Health's reason; "" is healthy
	err      error  // every read fails with it

	asked QueryFilter // the last Queries filter
	since time.Time   // the last Failures span
	step  time.Duration
}

func (h *viewHistory) Queries(_ context.Context, f QueryFilter) ([]QueryRecord, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = f
	if h.err != nil {
		return nil, "", h.err
	}
	start, _ := strconv.Atoi(f.Cursor)
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	var out []QueryRecord
	for _, q := range h.queries {
		if f.Name != "" && !strings.EqualFold(strings.TrimSuffix(q.Name, "."), strings.TrimSuffix(f.Name, ".")) ||
			f.Client != "" && q.Client != f.Client || f.Rcode != "" && q.Rcode != f.Rcode ||
			!f.Since.IsZero() && q.Time.Before(f.Since) || !f.Until.IsZero() && q.Time.After(f.Until) {
			continue
		}
		out = append(out, q)
	}
	out = out[min(start, len(out)):]
	if len(out) > limit {
		return out[:limit], strconv.Itoa(start + limit), nil
	}
	return out, "", nil
}

func (h *viewHistory) Verdicts(context.Context, VerdictFilter) ([]diagnose.Verdict, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []diagnose.Verdict
	for _, v := range h.verdicts {
		out = append(out, v)
	}
	return out, "", h.err
}

func (h *viewHistory) Verdict(_ context.Context, id string) (diagnose.Verdict, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return diagnose.Verdict{}, false, h.err
	}
	v, ok := h.verdicts[id]
	return v, ok, nil
}

func (h *viewHistory) Failures(_ context.Context, since time.Time, step time.Duration) (FailureCounts, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.since, h.step = since, step
	if h.err != nil {
		return FailureCounts{}, h.err
	}
	fc := h.counts
	fc.Start, fc.Step = since, step
	return fc, nil
}

func (h *viewHistory) Health() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unwell == "", h.unwell
}

// hostileName is a name no view may let out as markup: it closes the SVG,
// opens a script and an element, quotes, and is as long as a name can be.
var hostileName = `</svg><script>alert(1)</script><a href="x">'"&` + strings.Repeat("é", 40) + `.` + strings.Repeat("x", 150) + ".ok.test."

// sampleHistory holds queries (a hostile one among them), a kept verdict
// no longer live, and failure counts over an hour.
func sampleHistory() *viewHistory {
	kept := verdict("old", "gone.ok.test.", diagnose.LameDelegation)
	kept.Zone = "ok.test."
	at := t0.Add(time.Hour) // the test server's now
	h := &viewHistory{verdicts: map[string]diagnose.Verdict{"old": kept}}
	h.queries = []QueryRecord{
		{Time: at.Add(-1 * time.Minute), Client: "127.0.0.7", Name: hostileName, Qtype: "A", Rcode: "NXDOMAIN", DurationMS: 3, DiagnosisID: "a"},
		{Time: at.Add(-2 * time.Minute), Client: "127.0.0.8", Name: "www.lame.test.", Qtype: "A", Rcode: "SERVFAIL", DurationMS: 40.5, DiagnosisID: "c", Upstream: "127.0.0.1:5300"},
		{Time: at.Add(-3 * time.Minute), Client: "127.0.0.7", Name: "www.ok.test.", Qtype: "AAAA", Rcode: "NOERROR", Cached: true, DurationMS: 0.1,
			Count: 12, Last: at.Add(-3*time.Minute + 800*time.Millisecond)},
		{Time: at.Add(-4 * time.Minute), Client: "127.0.0.9", Name: "gone.ok.test.", Qtype: "A", Rcode: "SERVFAIL", DurationMS: 12, DiagnosisID: "old"},
	}
	lame, nx, none := make([]int, 60), make([]int, 60), make([]int, 60)
	lame[50], lame[51], nx[58], none[10] = 3, 2, 4, 1
	h.counts = FailureCounts{Cause: map[string][]int{string(diagnose.LameDelegation): lame,
		string(diagnose.NXDomainConfirmed): nx, "": none, hostileName: {0, 1}},
		Client: map[string]int{"127.0.0.7": 5, "127.0.0.8": 6, hostileName: 1}}
	return h
}
