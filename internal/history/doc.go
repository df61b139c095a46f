// Package history keeps nxray's history on disk, in an embedded SQLite
// database (modernc.org/sqlite, pure Go): the query log and every verdict
// with its evidence. It implements status.History for the page and the API,
// and proxy.QueryLog for the data path.
//
// Writes never block the data path: LogQuery and PutVerdict hand their row
// to a bounded channel without waiting, and one writer goroutine commits
// what it finds there in one transaction per batch. A full channel drops
// the row and counts it. A write that fails (disk full, read-only file
// system, corrupt file) turns the history off, with a reason Health gives,
// until a later try succeeds; the data path never notices.
package history
