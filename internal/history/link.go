package history

import (
	"context"
	"database/sql"
	"slices"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
)

// A failed query is linked to its verdict when it is read, not when it is
// written: the verdict is made after the answer went out. The engine
// counts a failure onto the verdict for its name, type and rcode from the
// verdict's first failure until VerdictTTL after its last, and, for a
// zone-wide cause (or an NXDOMAIN flood it grouped), failures of other
// names under its zone; linking follows the same rules, preferring the
// name's own verdict, and among several the latest that began before the
// query.

// linkKey is what a query is linked by.
type linkKey struct {
	name  string // canonical
	qtype uint16
	rcode int
	t     int64
}

// kept is a verdict as the linker knows it.
type kept struct {
	id, cause   string
	first, last int64
}

// linker finds the verdict a failed query was counted on.
type linker struct {
	ttl    int64
	byName map[[3]string][]kept // name, qtype, rcode; by first seen
	byZone map[[2]string][]kept // zone, rcode
}

// failed says whether rcode is a failure a verdict may explain.
func failed(rcode int) bool {
	return rcode == dns.RcodeNameError || rcode == dns.RcodeServerFailure || rcode == dns.RcodeRefused
}

// verdictRcodes are the verdict rcodes a query's rcode may be linked to: a
// client got SERVFAIL when no upstream answered.
func verdictRcodes(rc int) []string {
	if rc == dns.RcodeServerFailure {
		return []string{"SERVFAIL", "no answer"}
	}
	return []string{dns.RcodeToString[rc]}
}

// zoneWide are the causes the engine groups other names of the zone under.
var zoneWide = []string{string(diagnose.DNSSECBogus), string(diagnose.DNSSECExpired), string(diagnose.LameDelegation),
	string(diagnose.AuthoritativeUnreachable), string(diagnose.AuthoritativeInconsistent),
	string(diagnose.PartialAuthoritativeOutage)}

// maxLinked bounds the verdicts one read loads to link with.
const maxLinked = 100000

// newLinker loads the verdicts that may explain failures from lo to hi.
func (s *Store) newLinker(ctx context.Context, db *sql.DB, lo, hi int64) (*linker, error) {
	l := &linker{ttl: int64(s.cfg.VerdictTTL), byName: map[[3]string][]kept{}, byZone: map[[2]string][]kept{}}
	rows, err := db.QueryContext(ctx, `SELECT id, name, qtype, rcode, cause, zone, grouped, first_seen, last_seen
		FROM verdicts WHERE last_seen >= ? AND first_seen <= ? LIMIT ?`, lo-l.ttl, hi, maxLinked)
	if err != nil {
		return nil, wrap("reading verdicts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k kept
		var name, qtype, rcode, zone string
		var grouped int64
		if err := rows.Scan(&k.id, &name, &qtype, &rcode, &k.cause, &zone, &grouped, &k.first, &k.last); err != nil {
			return nil, wrap("reading verdicts", err)
		}
		l.byName[[3]string{name, qtype, rcode}] = append(l.byName[[3]string{name, qtype, rcode}], k)
		if zone != "" && (grouped > 0 || (rcode != "NXDOMAIN" && slices.Contains(zoneWide, k.cause))) {
			l.byZone[[2]string{zone, rcode}] = append(l.byZone[[2]string{zone, rcode}], k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("reading verdicts", err)
	}
	byFirst := func(a, b kept) int { return int(min(max(a.first-b.first, -1), 1)) }
	for _, ks := range l.byName {
		slices.SortFunc(ks, byFirst)
	}
	for _, ks := range l.byZone {
		slices.SortFunc(ks, byFirst)
	}
	return l, nil
}

// link finds the verdict that explains the failed query k.
func (l *linker) link(k linkKey) (kept, bool) {
	if !failed(k.rcode) {
		return kept{}, false
	}
	qt := dns.Type(k.qtype).String()
	for _, rc := range verdictRcodes(k.rcode) {
		if v, ok := l.within(l.byName[[3]string{k.name, qt, rc}], k.t); ok {
			return v, true
		}
	}
	for off, end := 0, false; !end; off, end = dns.NextLabel(k.name, off) {
		for _, rc := range verdictRcodes(k.rcode) {
			if v, ok := l.within(l.byZone[[2]string{k.name[off:], rc}], k.t); ok {
				return v, true
			}
		}
	}
	return kept{}, false
}

// within is the latest of ks (sorted by first seen) that began at or
// before t and was still alive at t.
func (l *linker) within(ks []kept, t int64) (kept, bool) {
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].first <= t {
			return ks[i], t < ks[i].last+l.ttl
		}
	}
	return kept{}, false
}

// linkAll sets the diagnosis ID of each failed query in out (keys[i] is
// out[i]'s).
func (s *Store) linkAll(ctx context.Context, db *sql.DB, out []status.QueryRecord, keys []linkKey) error {
	lo, hi, any := int64(0), int64(0), false
	for _, k := range keys {
		if failed(k.rcode) {
			if !any || k.t < lo {
				lo = k.t
			}
			hi, any = max(hi, k.t), true
		}
	}
	if !any {
		return nil
	}
	l, err := s.newLinker(ctx, db, lo, hi)
	if err != nil {
		return err
	}
	for i, k := range keys {
		if v, ok := l.link(k); ok {
			out[i].DiagnosisID = v.id
		}
	}
	return nil
}
