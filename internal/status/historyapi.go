package status

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nxray/nxray/diagnose"
)

// ErrBadFilter is wrapped by a History's error about a filter or cursor the
// client gave; the API answers it 400.
var ErrBadFilter = errors.New("bad filter")

// historyOff is the 503 of a history API with no history.
const historyOff = "history is off: nxray keeps no query log (history.path is empty)"

// parseHistTime reads since or until: an RFC 3339 time, or a duration that
// long before now ("15m").
func parseHistTime(key, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New(key + " wants an RFC 3339 time (2026-01-02T15:04:05Z) or a duration before now (15m), not " + strconv.Quote(v))
}

// histSpan is since, until, limit and cursor, as the history APIs take them.
type histSpan struct {
	since, until time.Time
	limit        int
	cursor       string
}

func parseHistSpan(q url.Values, now time.Time) (sp histSpan, err error) {
	if sp.since, err = parseHistTime("since", q.Get("since"), now); err != nil {
		return sp, err
	}
	if sp.until, err = parseHistTime("until", q.Get("until"), now); err != nil {
		return sp, err
	}
	if l := q.Get("limit"); l != "" {
		n, aerr := strconv.Atoi(l)
		if aerr != nil || n < 1 || n > maxLimit {
			return sp, errors.New("limit wants a number from 1 to " + strconv.Itoa(maxLimit))
		}
		sp.limit = n
	}
	sp.cursor = q.Get("cursor")
	return sp, nil
}

// queries answers /api/v1/queries from the query log, newest first.
func (s *Server) queries(w http.ResponseWriter, r *http.Request) {
	if s.cfg.History == nil {
		writeError(w, http.StatusServiceUnavailable, historyOff)
		return
	}
	q := r.URL.Query()
	sp, err := parseHistSpan(q, s.cfg.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	f := QueryFilter{Name: strings.TrimSpace(q.Get("name")), Client: q.Get("client"), Rcode: q.Get("rcode"),
		Since: sp.since, Until: sp.until, Limit: sp.limit, Cursor: sp.cursor}
	recs, next, err := s.cfg.History.Queries(r.Context(), f)
	if err != nil {
		s.historyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"queries": recs, "next": next})
}

// historyError answers err from the History: 400 for the client's
// mistake, else 503 with why history cannot answer.
func (s *Server) historyError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrBadFilter) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	msg := "history cannot answer: " + err.Error()
	if ok, why := s.cfg.History.Health(); !ok {
		msg = "history is not available: " + why
	}
	writeError(w, http.StatusServiceUnavailable, msg)
}

// listed is a verdict as /api/v1/diagnoses lists it: live says the engine
// holds it now (it annotates answers and counts failures); the others are
// kept on disk only.
type listed struct {
	diagnose.Verdict
	Live bool `json:"live"`
}

// verdictCursor is where a page of verdicts ends: the last one's last
// seen (Unix nanoseconds, base 36) and ID, as History.Verdicts reads it.
func verdictCursor(v diagnose.Verdict) string {
	return strconv.FormatInt(v.LastSeen.UnixNano(), 36) + "." + v.ID
}

// parseVerdictCursor checks a cursor verdictCursor made.
func parseVerdictCursor(c string) (t int64, id string, err error) {
	ts, id, ok := strings.Cut(c, ".")
	t, perr := strconv.ParseInt(ts, 36, 64)
	if !ok || perr != nil || id == "" {
		return 0, "", errors.New("cursor " + strconv.Quote(c) + " is not one this server gave")
	}
	return t, id, nil
}

// verdictsNewestFirst orders verdicts by last seen, then ID, both descending, as
// History.Verdicts does.
func verdictsNewestFirst(a, b diagnose.Verdict) int {
	return cmp.Or(b.LastSeen.Compare(a.LastSeen), strings.Compare(b.ID, a.ID))
}

// inHistSpan says whether v, last seen, falls within sp and after its cursor
// (at t, id).
func inHistSpan(v diagnose.Verdict, sp histSpan, t int64, id string) bool {
	if (!sp.since.IsZero() && v.LastSeen.Before(sp.since)) || (!sp.until.IsZero() && v.LastSeen.After(sp.until)) {
		return false
	}
	if sp.cursor == "" {
		return true
	}
	n := v.LastSeen.UnixNano()
	return n < t || (n == t && v.ID < id)
}
