package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/nxray/nxray/diagnose"
)

// chunk is how many rows one INSERT statement carries: one statement per
// chunk rows, not per row, is most of the writer's speed.
const chunk = 16

// pause is the writer's rest between two chunks. With GOMAXPROCS=1 a write
// of a thousand rows (about 13 ms) would hold the only P, and queries
// arriving meanwhile would wait for Go's 10-ms time slice. Any sleep lets
// the scheduler poll the network and run the readers first; a query then
// waits for one chunk at most.
const pause = 20 * time.Microsecond

const queryCols = "INSERT INTO queries (t, client, name, qtype, rcode, cached, upstream, dur_us, n, t_last) VALUES "

var (
	insertChunk = queryCols + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?),", chunk), ",")
	insertOne   = queryCols + "(?,?,?,?,?,?,?,?,?,?)"
)

const upsertVerdict = `INSERT INTO verdicts (id, seq, name, qtype, rcode, cause, zone, grouped, first_seen, last_seen, body)
	VALUES (?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, name = excluded.name, qtype = excluded.qtype,
		rcode = excluded.rcode, cause = excluded.cause, zone = excluded.zone, grouped = excluded.grouped,
		first_seen = excluded.first_seen, last_seen = excluded.last_seen, body = excluded.body
	WHERE excluded.last_seen >= verdicts.last_seen`

// insert writes the batch in one transaction.
func (w *writer) insert(ctx context.Context) error {
	db, err := w.s.conn()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := w.insertQueries(ctx, tx); err != nil {
		return err
	}
	if err := w.upsertVerdicts(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (w *writer) insertQueries(ctx context.Context, tx *sql.Tx) error {
	rows := w.rows
	if len(rows) >= chunk {
		st, err := tx.PrepareContext(ctx, insertChunk)
		if err != nil {
			return err
		}
		defer st.Close()
		for ; len(rows) >= chunk; rows = rows[chunk:] {
			if _, err := st.ExecContext(ctx, w.argsOf(rows[:chunk])...); err != nil {
				return err
			}
			if !w.noPause {
				time.Sleep(pause)
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, insertOne)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range rows {
		if _, err := st.ExecContext(ctx, w.argsOf(rows[i:i+1])...); err != nil {
			return err
		}
	}
	return nil
}

// argsOf are the statement's arguments for rows, in w.args.
func (w *writer) argsOf(rows []foldRow) []any {
	a := w.args[:0]
	for _, r := range rows {
		k := r.key
		a = append(a, r.first, k.client.Unmap().WithZone("").String(), canonical(k.name), int64(k.qtype),
			int64(k.rcode), k.cached, k.upstream, r.dur.Microseconds(), r.n, r.last)
	}
	w.args = a
	return a
}

// canonical is name as the log keeps and filters it: lowercase, fully
// qualified.
func canonical(name string) string {
	if name == "" {
		return "."
	}
	return strings.ToLower(dns.Fqdn(name))
}

// zoneCol is a verdict's zone as the linker matches it: "" for none.
func zoneCol(z string) string {
	if z == "" {
		return ""
	}
	return canonical(z)
}

func (w *writer) upsertVerdicts(ctx context.Context, tx *sql.Tx) error {
	for _, v := range w.vs {
		body, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var seq any // IDs are the engine's counter in base 36
		if n, err := strconv.ParseUint(v.ID, 36, 63); err == nil {
			seq = int64(n)
		}
		if _, err := tx.ExecContext(ctx, upsertVerdict, v.ID, seq, canonical(v.Name), v.Qtype, v.Rcode,
			string(v.Cause), zoneCol(v.Zone), int64(v.Grouped), v.FirstSeen.UnixNano(), v.LastSeen.UnixNano(),
			string(body)); err != nil {
			return err
		}
	}
	return nil
}

// verdictOf reads a kept verdict's body.
func verdictOf(body string) (diagnose.Verdict, error) {
	var v diagnose.Verdict
	err := json.Unmarshal([]byte(body), &v)
	return v, err
}
