package history

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations bring a database from version i (PRAGMA user_version) to
// i+1; a new file is version 0. Never change one that shipped: add one.
var migrations = []string{
	// 1: the query log and the verdicts. Times are Unix nanoseconds; a
	// query's name is lowercase and fully qualified; a verdict's body is
	// its JSON, evidence included, and its other columns are what reads
	// select and link by.
	`CREATE TABLE queries (
		id       INTEGER PRIMARY KEY,
		t        INTEGER NOT NULL,
		client   TEXT    NOT NULL,
		name     TEXT    NOT NULL,
		qtype    INTEGER NOT NULL,
		rcode    INTEGER NOT NULL,
		cached   INTEGER NOT NULL,
		upstream TEXT    NOT NULL,
		dur_us   INTEGER NOT NULL
	);
	CREATE INDEX queries_t ON queries (t);
	CREATE INDEX queries_name ON queries (name, t);
	CREATE TABLE verdicts (
		id         TEXT    PRIMARY KEY,
		seq        INTEGER,
		name       TEXT    NOT NULL,
		qtype      TEXT    NOT NULL,
		rcode      TEXT    NOT NULL,
		cause      TEXT    NOT NULL,
		zone       TEXT    NOT NULL,
		grouped    INTEGER NOT NULL,
		first_seen INTEGER NOT NULL,
		last_seen  INTEGER NOT NULL,
		body       TEXT    NOT NULL
	);
	CREATE INDEX verdicts_last ON verdicts (last_seen);
	CREATE INDEX verdicts_name ON verdicts (name, qtype);`,
	// 2: filtering by client, and the failures the timeline counts
	// (SERVFAIL, NXDOMAIN, REFUSED) without reading every success. Name
	// and client indexes end with t, so that a page of one name's queries,
	// newest first, reads that page only.
	`CREATE INDEX queries_client ON queries (client, t);
	CREATE INDEX queries_failed ON queries (t) WHERE rcode IN (2, 3, 5);`,
	// 3: folded rows (fold.go): n queries alike within one second, t the
	// first, t_last the last, dur_us the longest. Rows written before are
	// one query each.
	`ALTER TABLE queries ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
	ALTER TABLE queries ADD COLUMN t_last INTEGER NOT NULL DEFAULT 0;`,
}

// schemaVersion is the version this code writes.
var schemaVersion = len(migrations)

// migrate brings db to schemaVersion, one transaction per step. A file of
// a later version (a newer nxray's) is refused rather than written.
func migrate(ctx context.Context, db *sql.DB) error {
	return migrateTo(ctx, db, schemaVersion)
}

func migrateTo(ctx context.Context, db *sql.DB, to int) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("the file has schema version %d, this nxray knows up to %d", v, len(migrations))
	}
	for ; v < to; v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("schema version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
