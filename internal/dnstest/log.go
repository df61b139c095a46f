package dnstest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Timeout is how long Wait waits for a log record.
const Timeout = 5 * time.Second

// Log is a slog.Handler that keeps every record, so that a test can wait
// for a logged event instead of polling, and read afterwards what was
// logged. It keeps a record as its line: the message, then each attribute
// as " key=value", e.g. "upstream down upstream=127.0.0.1:53". Attributes
// and groups added by Logger.With and WithGroup are left out.
//
// It is safe for concurrent use. Handle never blocks on a reader and drops
// nothing.
type Log struct {
	mu   sync.Mutex    // guards the fields below
	recs []record      // every record handled, in order
	next int           // index in recs of the first record no Wait has passed
	more chan struct{} // capacity 1: a record came since a Wait last looked
}

type record struct{ msg, line string }

var _ slog.Handler = (*Log)(nil)

// NewLog returns an empty Log.
func NewLog() *Log { return &Log{more: make(chan struct{}, 1)} }

// Logger returns a logger that writes to l.
func (l *Log) Logger() *slog.Logger { return slog.New(l) }

// Enabled is true at every level: a test sees Debug records too.
func (l *Log) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps r.
func (l *Log) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, record{msg: r.Message, line: line})
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return nil
}

// WithAttrs returns l: the attributes are left out.
func (l *Log) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup returns l: the group is left out.
func (l *Log) WithGroup(string) slog.Handler { return l }

// Lines returns every record handled so far, as lines, oldest first.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := make([]string, len(l.recs))
	for i, r := range l.recs {
		lines[i] = r.line
	}
	return lines
}

// Wait returns the line of the next record whose message is msg, passing
// over the records before it; it fails the test if none comes within
// Timeout. Each Wait starts where the last one stopped, so waiting twice
// for a message waits for two records of it. Wait from one goroutine at a
// time: waits share their place in the log.
func (l *Log) Wait(t testing.TB, msg string) string {
	t.Helper()
	return l.WaitWithin(t, msg, Timeout)
}

// WaitWithin is Wait with its own timeout.
func (l *Log) WaitWithin(t testing.TB, msg string, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if line, ok := l.pass(msg); ok {
			return line
		}
		select {
		case <-l.more:
		case <-deadline.C:
			t.Fatalf("no %q log record within %s", msg, timeout)
			return ""
		}
	}
}

// pass moves past the records not yet passed up to the first with message
// msg, and returns that one's line.
func (l *Log) pass(msg string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.next < len(l.recs) {
		r := l.recs[l.next]
		l.next++
		if r.msg == msg {
			return r.line, true
		}
	}
	return "", false
}
