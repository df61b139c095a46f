package status

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
)

// maxKeptPages bounds the pages of kept verdicts one answer reads to fill
// its own page when name or cause filter them.
const maxKeptPages = 10

func (s *Server) diagnoses(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sp, err := parseHistSpan(r.URL.Query(), s.cfg.Now())
	var t int64
	var id string
	if err == nil && sp.cursor != "" {
		t, id, err = parseVerdictCursor(sp.cursor)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := f.Limit // one limit parameter, for the filter and the span
	switch {
	case limit > 0:
	case s.cfg.History == nil:
		limit = math.MaxInt // every live verdict, as before history
	default:
		limit = maxLimit
	}
	out := []listed{}
	live := map[string]bool{}
	for _, v := range s.cfg.Engine.Verdicts() {
		live[v.ID] = true
		if f.match(v) && inHistSpan(v, sp, t, id) {
			out = append(out, listed{Verdict: v, Live: true})
		}
	}
	if s.cfg.History != nil {
		kept, err := s.kept(r.Context(), f, sp, limit, live)
		if err != nil {
			s.historyError(w, err)
			return
		}
		out = append(out, kept...)
	}
	slices.SortStableFunc(out, func(a, b listed) int { return verdictsNewestFirst(a.Verdict, b.Verdict) })
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = verdictCursor(out[limit-1].Verdict)
	}
	writeJSON(w, http.StatusOK, map[string]any{"diagnoses": out, "next": next})
}

// kept reads kept verdicts matching f within sp, not live, up to limit+1
// of them (one more says there is a next page).
func (s *Server) kept(ctx context.Context, f filter, sp histSpan, limit int, live map[string]bool) ([]listed, error) {
	var out []listed
	vf := VerdictFilter{Since: sp.since, Until: sp.until, Limit: maxLimit, Cursor: sp.cursor}
	for range maxKeptPages {
		vs, next, err := s.cfg.History.Verdicts(ctx, vf)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if !live[v.ID] && f.match(v) {
				out = append(out, listed{Verdict: v})
			}
			if len(out) > limit {
				return out, nil
			}
		}
		if next == "" {
			break
		}
		vf.Cursor = next
	}
	return out, nil
}

// diagnosis answers one verdict by ID: the live one, else the kept one.
func (s *Server) diagnosis(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if v, ok := s.cfg.Engine.Get(id); ok {
		writeJSON(w, http.StatusOK, listed{Verdict: v, Live: true})
		return
	}
	if s.cfg.History != nil {
		v, ok, err := s.cfg.History.Verdict(r.Context(), id)
		if err != nil {
			s.historyError(w, err)
			return
		}
		if ok {
			writeJSON(w, http.StatusOK, listed{Verdict: v})
			return
		}
	}
	writeError(w, http.StatusNotFound, "no diagnosis with id "+strconv.Quote(id))
}
