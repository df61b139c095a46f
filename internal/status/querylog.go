package status

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// queryLogLimit is how many queries one page of the log shows.
const queryLogLimit = 100

// logRcodes are the rcodes the query log's filter offers.
var logRcodes = []string{"NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"}

// formTime is how the filter's times are written (UTC), as a
// datetime-local input sends them.
const formTime = "2006-01-02T15:04:05"

var queryLogTmpl = viewTmpl("querylog.html")

// queryLogData is what templates/querylog.html reads.
type queryLogData struct {
	viewBase
	Form    queryForm
	Rcodes  []string
	Rows    []queryRow
	Older   string // the next page's link, "" when there is none
	Newest  string // the first page's link, when this is a later one
	Queried bool   // history answered (so an empty table means no queries)
}

// queryForm is the filter as the person typed it.
type queryForm struct {
	Name, Client, Rcode, Since, Until string
}

// queryRow is one logged query with its links.
type queryRow struct {
	QueryRecord
	Failed    bool
	Diagnosis string // link to its verdict
	ByName    string // the log filtered to this name
	ByClient  string // the log filtered to this client
}

// queryLog serves GET /queries: the query log, newest first, filtered.
func (s *Server) queryLog(w http.ResponseWriter, r *http.Request) {
	d := queryLogData{viewBase: s.base(r, "query log", "queries"), Rcodes: logRcodes}
	q := r.URL.Query()
	d.Form = queryForm{Name: strings.TrimSpace(q.Get("name")), Client: strings.TrimSpace(q.Get("client")),
		Rcode: q.Get("rcode"), Since: q.Get("since"), Until: q.Get("until")}
	if s.cfg.History == nil {
		s.render(w, queryLogTmpl, http.StatusOK, d)
		return
	}
	f, err := parseQueryForm(d.Form, s.cfg.Now())
	if err != nil {
		d.Problem = err.Error()
		s.render(w, queryLogTmpl, http.StatusBadRequest, d)
		return
	}
	f.Limit, f.Cursor = queryLogLimit, q.Get("cursor")
	recs, next, err := s.cfg.History.Queries(r.Context(), f)
	if err != nil {
		d.Problem = "Reading the query log failed: " + err.Error()
		s.render(w, queryLogTmpl, http.StatusInternalServerError, d)
		return
	}
	d.Queried = true
	keep := d.Form.values()
	for _, rec := range recs[:min(len(recs), queryLogLimit)] {
		row := queryRow{QueryRecord: rec, Failed: failedRcode(rec.Rcode),
			ByName:   d.link("/queries", url.Values{"name": {rec.Name}}),
			ByClient: d.link("/queries", url.Values{"client": {rec.Client}})}
		if rec.DiagnosisID != "" {
			row.Diagnosis = d.link("/diagnoses/"+url.PathEscape(rec.DiagnosisID), nil)
		}
		d.Rows = append(d.Rows, row)
	}
	if next != "" {
		older := d.Form.values()
		older.Set("cursor", next)
		d.Older = d.link("/queries", older)
	}
	if f.Cursor != "" {
		d.Newest = d.link("/queries", keep)
	}
	s.render(w, queryLogTmpl, http.StatusOK, d)
}

// values are the form's fields that are set, for links that keep them.
func (f queryForm) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"name": f.Name, "client": f.Client, "rcode": f.Rcode, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// maxFormName bounds the name filter: no DNS name is longer.
const maxFormName = 255

// parseQueryForm checks the form and turns it into a QueryFilter.
func parseQueryForm(f queryForm, now time.Time) (QueryFilter, error) {
	out := QueryFilter{Name: f.Name, Rcode: f.Rcode}
	if len(f.Name) > maxFormName {
		return out, errors.New("name is longer than any DNS name (255 bytes)")
	}
	if f.Client != "" {
		a, err := netip.ParseAddr(f.Client)
		if err != nil {
			return out, errors.New("client wants an IP address, like 192.0.2.7 or 2001:db8::7")
		}
		out.Client = a.Unmap().String()
	}
	if f.Rcode != "" && !slices.Contains(logRcodes, f.Rcode) {
		return out, errors.New("rcode wants one of " + strings.Join(logRcodes, ", "))
	}
	var err error
	if out.Since, err = parseFormTime("since", f.Since); err != nil {
		return out, err
	}
	if out.Until, err = parseFormTime("until", f.Until); err != nil {
		return out, err
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && out.Until.Before(out.Since) {
		return out, errors.New("until is before since: nothing can match")
	}
	return out, nil
}

// parseFormTime reads a filter time: as a datetime-local input sends it
// (UTC, with or without seconds) or RFC 3339.
func parseFormTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New(field + " wants a time like 2026-05-01T12:00 (UTC) or RFC 3339")
}

// failedRcode says whether a query with rcode counts as failed.
func failedRcode(rcode string) bool { return rcode != "" && rcode != "NOERROR" }
