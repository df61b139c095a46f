package history

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
)

// limitOf is a filter's limit: 0 means 100, at most 1000.
func limitOf(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

// cursor is where a page ends: the last row's time and ID. Newest first,
// the next page starts below it.
type cursor struct {
	t  int64
	id string
}

func (c cursor) String() string { return strconv.FormatInt(c.t, 36) + "." + c.id }

func parseCursor(s string) (cursor, bool, error) {
	if s == "" {
		return cursor{}, false, nil
	}
	ts, id, ok := strings.Cut(s, ".")
	t, err := strconv.ParseInt(ts, 36, 64)
	if !ok || err != nil || id == "" {
		return cursor{}, false, fmt.Errorf("%w: cursor %q is not one this server gave", status.ErrBadFilter, s)
	}
	return cursor{t: t, id: id}, true, nil
}

// where gathers a statement's conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// span adds since and until (both inclusive) on column col.
func (w *where) span(col string, since, until time.Time) {
	if !since.IsZero() {
		w.add(col+" >= ?", since.UnixNano())
	}
	if !until.IsZero() {
		w.add(col+" <= ?", until.UnixNano())
	}
}

// queryWhere makes f's conditions.
func queryWhere(f status.QueryFilter) (*where, error) {
	w := &where{}
	if n := strings.TrimSpace(f.Name); n != "" {
		w.add("name = ?", canonical(n))
	}
	if f.Client != "" {
		a, err := netip.ParseAddr(f.Client)
		if err != nil {
			return nil, fmt.Errorf("%w: client %q is not an IP address", status.ErrBadFilter, f.Client)
		}
		w.add("client = ?", a.Unmap().WithZone("").String())
	}
	if f.Rcode != "" {
		rc, ok := dns.StringToRcode[strings.ToUpper(f.Rcode)]
		if !ok {
			return nil, fmt.Errorf("%w: rcode %q is not one (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)", status.ErrBadFilter, f.Rcode)
		}
		if failed(rc) {
			// Implies the partial index's condition: newest failures first
			// without reading the successes between them.
			w.add("rcode = ? AND rcode IN (2, 3, 5)", rc)
		} else {
			w.add("rcode = ?", rc)
		}
	}
	w.span("t", f.Since, f.Until)
	c, ok, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, err
	}
	if ok {
		id, err := strconv.ParseInt(c.id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: cursor %q is not one this server gave", status.ErrBadFilter, f.Cursor)
		}
		w.add("(t < ? OR (t = ? AND id < ?))", c.t, c.t, id)
	}
	return w, nil
}

// Queries returns the logged queries matching f, newest first, each failed
// one with the ID of the verdict it was counted on, if any.
func (s *Store) Queries(ctx context.Context, f status.QueryFilter) ([]status.QueryRecord, string, error) {
	w, err := queryWhere(f)
	if err != nil {
		return nil, "", err
	}
	db, err := s.conn()
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(f.Limit)
	rows, err := db.QueryContext(ctx, "SELECT id, t, client, name, qtype, rcode, cached, upstream, dur_us, n, t_last FROM queries"+
		w.String()+" ORDER BY t DESC, id DESC LIMIT "+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, "", wrap("reading queries", err)
	}
	defer rows.Close()
	out, keys := []status.QueryRecord{}, []linkKey{}
	var next cursor
	more := false
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.t, &r.client, &r.name, &r.qtype, &r.rcode, &r.cached, &r.upstream, &r.durUS,
			&r.n, &r.last); err != nil {
			return nil, "", wrap("reading queries", err)
		}
		if len(out) == limit {
			more = true
			break
		}
		next = cursor{t: r.t, id: strconv.FormatInt(r.id, 10)}
		out = append(out, r.record())
		keys = append(keys, linkKey{name: r.name, qtype: uint16(r.qtype), rcode: int(r.rcode), t: r.t})
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("reading queries", err)
	}
	rows.Close()
	if err := s.linkAll(ctx, db, out, keys); err != nil {
		return nil, "", err
	}
	if !more {
		return out, "", nil
	}
	return out, next.String(), nil
}

// row is one row of the query log as the table holds it: n queries alike,
// the first at t, the last at last (0 when n is 1, in rows of version 2).
type row struct {
	id, t, qtype, rcode, durUS, n, last int64
	client, name, upstream              string
	cached                              bool
}

func (r row) record() status.QueryRecord {
	rec := status.QueryRecord{Time: time.Unix(0, r.t), Client: r.client, Name: r.name,
		Qtype: dns.Type(r.qtype).String(), Rcode: rcodeName(int(r.rcode)), Cached: r.cached, Upstream: r.upstream,
		DurationMS: float64(r.durUS) / 1000, Count: int(max(r.n, 1))}
	if r.n > 1 {
		rec.Last = time.Unix(0, max(r.last, r.t))
	}
	return rec
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(rc)
}

// Verdicts returns the kept verdicts last seen within f's span, newest
// (last seen) first.
func (s *Store) Verdicts(ctx context.Context, f status.VerdictFilter) ([]diagnose.Verdict, string, error) {
	w := &where{}
	w.span("last_seen", f.Since, f.Until)
	c, ok, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	if ok {
		w.add("(last_seen < ? OR (last_seen = ? AND id < ?))", c.t, c.t, c.id)
	}
	db, err := s.conn()
	if err != nil {
		return nil, "", err
	}
	limit := limitOf(f.Limit)
	rows, err := db.QueryContext(ctx, "SELECT body FROM verdicts"+w.String()+
		" ORDER BY last_seen DESC, id DESC LIMIT "+strconv.Itoa(limit+1), w.args...)
	if err != nil {
		return nil, "", wrap("reading verdicts", err)
	}
	defer rows.Close()
	out := []diagnose.Verdict{}
	more := false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, "", wrap("reading verdicts", err)
		}
		v, err := verdictOf(body)
		if err != nil {
			return nil, "", wrap("reading verdicts", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("reading verdicts", err)
	}
	if !more {
		return out, "", nil
	}
	last := out[len(out)-1]
	return out, cursor{t: last.LastSeen.UnixNano(), id: last.ID}.String(), nil
}

// Verdict returns the kept verdict with this ID.
func (s *Store) Verdict(ctx context.Context, id string) (diagnose.Verdict, bool, error) {
	db, err := s.conn()
	if err != nil {
		return diagnose.Verdict{}, false, err
	}
	var body string
	switch err := db.QueryRowContext(ctx, "SELECT body FROM verdicts WHERE id = ?", id).Scan(&body); err {
	case nil:
	case sql.ErrNoRows:
		return diagnose.Verdict{}, false, nil
	default:
		return diagnose.Verdict{}, false, wrap("reading a verdict", err)
	}
	v, err := verdictOf(body)
	if err != nil {
		return diagnose.Verdict{}, false, wrap("reading a verdict", err)
	}
	return v, true, nil
}
