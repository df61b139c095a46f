package history

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
)

func count(t *testing.T, s *Store) int {
	t.Helper()
	got, _, err := s.Queries(context.Background(), status.QueryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

func TestPruneByAge(t *testing.T) {
	c := newClock()
	s := open(t, c, func(cfg *Config) { cfg.Retention = time.Hour })
	s.LogQuery(q(c, 0, "127.0.0.1", "old.test.", dns.TypeA, 0))
	s.LogQuery(q(c, 30*time.Minute, "127.0.0.1", "new.test.", dns.TypeA, 0))
	s.PutVerdict(verdict(c, "1", "old.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0))
	s.PutVerdict(verdict(c, "2", "new.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 30*time.Minute))
	syncStore(t, s)
	c.Advance(time.Hour + time.Minute)
	if err := s.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Queries(context.Background(), status.QueryFilter{})
	vs, _, _ := s.Verdicts(context.Background(), status.VerdictFilter{})
	if len(got) != 1 || got[0].Name != "new.test." || len(vs) != 1 || vs[0].ID != "2" {
		t.Errorf("after pruning: %v and %v, want the new ones only", names(got), ids(vs))
	}
}

func TestPruneByCount(t *testing.T) {
	c := newClock()
	s := open(t, c, func(cfg *Config) { cfg.MaxQueries = 4 })
	for i := range 10 {
		s.LogQuery(q(c, time.Duration(i)*time.Second, "127.0.0.1", string(rune('a'+i))+".test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	if err := s.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Queries(context.Background(), status.QueryFilter{})
	if want := "j.test. i.test. h.test. g.test."; strings.Join(names(got), " ") != want {
		t.Errorf("kept %v, want %s", names(got), want)
	}
}

func version(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrations opens a new file and one of version 1 with a row in it:
// both end at the current version, and the row is still there.
func TestMigrations(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	s.Close()
	if v := version(t, s.cfg.Path); v != schemaVersion {
		t.Errorf("a new file is at version %d, want %d", v, schemaVersion)
	}

	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(context.Background(), db, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO queries (t, client, name, qtype, rcode, cached, upstream, dur_us)
		VALUES (?, '127.0.0.1', 'v1.test.', 1, 3, 0, '', 5)`, c.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open(t, c, func(cfg *Config) { cfg.Path = path })
	if ok, why := s.Health(); !ok {
		t.Fatalf("a version 1 file: %s", why)
	}
	got, _, err := s.Queries(context.Background(), status.QueryFilter{Client: "127.0.0.1"})
	if err != nil || len(got) != 1 || got[0].Name != "v1.test." {
		t.Errorf("after migrating: %v, %v", names(got), err)
	}
	s.Close()
	if v := version(t, path); v != schemaVersion {
		t.Errorf("migrated to %d, want %d", v, schemaVersion)
	}
}

// down checks that s is not written, says why with want, and that the data
// path does not notice: LogQuery returns, and drops.
func down(t *testing.T, s *Store, want string) {
	t.Helper()
	ok, why := s.Health()
	if ok || !strings.Contains(why, want) {
		t.Errorf("Health = %v, %q; want not written, saying %q", ok, why, want)
	}
	before := s.Stats().Dropped
	for range 3 {
		s.LogQuery(q(newClock(), 0, "127.0.0.1", "x.test.", dns.TypeA, 0))
	}
	syncStore(t, s)
	if d := s.Stats().Dropped - before; d != 3 {
		t.Errorf("%d rows dropped, want 3", d)
	}
	if _, _, err := s.Queries(context.Background(), status.QueryFilter{}); err == nil {
		t.Error("Queries answered with history off")
	}
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	junk := []byte(strings.Repeat("this is not an SQLite database. ", 200))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, newClock(), func(cfg *Config) { cfg.Path = path })
	down(t, s, "corrupt")
	s.Close()
	if b, _ := os.ReadFile(path); string(b) != string(junk) {
		t.Error("the corrupt file was changed")
	}
}

// makeReadOnly makes dir read-only, even to root (an immutable directory).
func makeReadOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("running as root, and chattr +i cannot make a read-only directory here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}

// TestReadOnlyThenWritable starts in a directory that cannot be written:
// history is off and says why; once the directory can be written, the next
// write after RetryEvery turns it on.
func TestReadOnlyThenWritable(t *testing.T) {
	dir := t.TempDir()
	makeReadOnly(t, dir)
	c := newClock()
	s := open(t, c, func(cfg *Config) { cfg.Path = filepath.Join(dir, "sub", "history.db") })
	down(t, s, "read-only")
	if os.Geteuid() == 0 {
		exec.Command("chattr", "-i", dir).Run()
	} else {
		os.Chmod(dir, 0o700)
	}
	s.LogQuery(q(c, 0, "127.0.0.1", "early.test.", dns.TypeA, 0))
	syncStore(t, s)
	if ok, _ := s.Health(); ok {
		t.Error("tried again before RetryEvery")
	}
	c.Advance(time.Minute)
	s.LogQuery(q(c, 0, "127.0.0.1", "back.test.", dns.TypeA, 0))
	syncStore(t, s)
	if ok, why := s.Health(); !ok {
		t.Fatalf("not written after the retry: %s", why)
	}
	if got, _, _ := s.Queries(context.Background(), status.QueryFilter{}); len(got) != 1 || got[0].Name != "back.test." {
		t.Errorf("kept %v, want back.test.", names(got))
	}
}

func TestOpenNeedsPath(t *testing.T) {
	if _, err := Open(Config{}); err == nil {
		t.Error("Open with no path: no error")
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, newClock(), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sync after Close: %v", err)
	}
}

func TestCollectors(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	s.LogQuery(q(c, 0, "127.0.0.1", "a.test.", dns.TypeA, 0))
	syncStore(t, s)
	want := `
# HELP nxray_history_up 1 while history is being written, 0 while it is not (the status page says why).
# TYPE nxray_history_up gauge
nxray_history_up 1
# HELP nxray_history_written_total Queries committed to the query log on disk.
# TYPE nxray_history_written_total counter
nxray_history_written_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "nxray_history_up", "nxray_history_written_total"); err != nil {
		t.Error(err)
	}
}

// TestCommittedSurvivesKill copies the files of a store that is still open
// (as a SIGKILL would leave them: no Close, no checkpoint) and opens the
// copy: every committed row is there.
func TestCommittedSurvivesKill(t *testing.T) {
	c := newClock()
	s := open(t, c, nil)
	for i := range 100 {
		s.LogQuery(q(c, time.Duration(i), "127.0.0.1", "kept"+strconv.Itoa(i)+".test.", dns.TypeA, 0))
	}
	s.PutVerdict(verdict(c, "1", "kept.test.", "NXDOMAIN", diagnose.NXDomainConfirmed, 0, 0))
	syncStore(t, s)
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.cfg.Path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "history.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cp := open(t, c, func(cfg *Config) { cfg.Path = filepath.Join(dir, "history.db") })
	if n := count(t, cp); n != 100 {
		t.Errorf("%d rows in the copy, want 100", n)
	}
	if _, ok, err := cp.Verdict(context.Background(), "1"); !ok || err != nil {
		t.Errorf("verdict in the copy: %v, %v", ok, err)
	}
}
