package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxray/nxray/diagnose"
	"github.com/nxray/nxray/internal/status"
	"github.com/nxray/nxray/proxy"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Defaults of the Config fields left zero.
const (
	DefaultRetention  = 7 * 24 * time.Hour
	DefaultMaxQueries = 1_000_000
	DefaultMaxRate    = 250
	DefaultVerdictTTL = 10 * time.Minute
	defaultRetry      = time.Minute
	defaultPrune      = time.Minute
	defaultFlush      = time.Second
)

// Config says where history lives and how much of it to keep.
type Config struct {
	Path       string        // the database file; required
	Retention  time.Duration // rows older than this are pruned [DefaultRetention]
	MaxQueries int           // query log rows kept at most [DefaultMaxQueries]
	// MaxRate caps the query log's new rows between two writes (a second,
	// with FlushEvery's default), for successes, for failures and for the
	// wildcards of queries over those caps each; beyond them queries are
	// dropped and counted (fold.go) [DefaultMaxRate].
	MaxRate int
	// VerdictTTL is how long the engine keeps counting failures onto a
	// verdict after its last one (diagnose.Config.StoreTTL): a failed query
	// is linked to a verdict it falls within [DefaultVerdictTTL].
	VerdictTTL time.Duration
	// RetryEvery spaces the tries to write again after a failed write
	// [1m]; PruneEvery spaces the pruning runs [1m]; FlushEvery the writes
	// of the query log's folded rows [1s].
	RetryEvery, PruneEvery, FlushEvery time.Duration
	Log                                *slog.Logger // [discard]
	Now                                func() time.Time
}

var (
	_ status.History = (*Store)(nil)
	_ proxy.QueryLog = (*Store)(nil)
)

// ErrUnavailable is returned by the reads while the database cannot be
// opened.
var ErrUnavailable = errors.New("history is not available")

// Store is the history. Create it with Open; Close stops its writer.
type Store struct {
	cfg Config
	log *slog.Logger

	fold     *folder
	verdicts chan diagnose.Verdict
	reqs     chan request // work for the writer: syncs, prunes
	done     chan struct{}
	wg       sync.WaitGroup
	stop     sync.Once

	db atomic.Pointer[sql.DB] // nil until opened; set by the writer only

	dropped, written atomic.Uint64

	hmu    sync.Mutex // guards reason
	reason string     // why history is not written; "" when it is
}

// Open starts the history at cfg.Path. A database that cannot be opened
// (a read-only directory, a corrupt file) is not an error: the store then
// drops what it is given, Health says why, and the writer tries again every
// RetryEvery. Only a configuration that can never work is an error.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("history: no path")
	}
	setDefaults(&cfg)
	s := &Store{cfg: cfg, log: cfg.Log, fold: newFolder(cfg.MaxRate),
		verdicts: make(chan diagnose.Verdict, 256), reqs: make(chan request),
		done: make(chan struct{})}
	if err := s.open(context.Background()); err != nil {
		s.fail("opening "+cfg.Path, err)
	}
	s.wg.Add(1)
	go s.run()
	return s, nil
}

func setDefaults(c *Config) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Retention, DefaultRetention)
	def(&c.VerdictTTL, DefaultVerdictTTL)
	def(&c.RetryEvery, defaultRetry)
	def(&c.PruneEvery, defaultPrune)
	def(&c.FlushEvery, defaultFlush)
	if c.MaxQueries <= 0 {
		c.MaxQueries = DefaultMaxQueries
	}
	if c.MaxRate <= 0 {
		c.MaxRate = DefaultMaxRate
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// open opens the database and brings its schema up to date. Called by Open
// and then by the writer only.
func (s *Store) open(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.Path), 0o750); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", dsn(s.cfg.Path))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return err
	}
	s.db.Store(db)
	return nil
}

// dsn is the driver's name for path: WAL, so that readers never wait on
// the writer; synchronous=NORMAL, so that a commit is not an fsync (a
// process killed mid-write loses nothing committed, a machine that loses
// power at most the last commits); a busy timeout for the rare writer
// collision (a checkpoint).
func dsn(path string) string {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(5000)")
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Add("_pragma", "foreign_keys(OFF)")
	v.Add("_pragma", "wal_autocheckpoint(8192)") // 32 MiB of WAL between checkpoints, which fsync
	v.Add("_pragma", "temp_store(MEMORY)")       // statement journals of multi-row inserts: not files
	v.Add("_pragma", "cache_size(-16384)")       // 16 MiB a connection: a batch's index pages stay in memory
	v.Add("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// Close commits what is waiting, stops the writer and closes the database.
func (s *Store) Close() error {
	var err error
	s.stop.Do(func() {
		close(s.done)
		s.wg.Wait()
		if db := s.db.Load(); db != nil {
			err = db.Close()
		}
	})
	return err
}

// Health says whether history is being written, and if not, why.
func (s *Store) Health() (bool, string) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.reason == "", s.reason
}

// Stats are the store's counters, for /metrics.
type Stats struct {
	Written uint64 // queries committed
	Dropped uint64 // queries and verdicts dropped: over MaxRate, the verdict queue full, or history off
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats { return Stats{Written: s.written.Load(), Dropped: s.dropped.Load()} }

// fail turns history off with the reason err gives, logging it once.
func (s *Store) fail(doing string, err error) {
	r := describe(doing, err)
	s.hmu.Lock()
	was := s.reason
	s.reason = r
	s.hmu.Unlock()
	if was == "" {
		s.log.Error("history is not written", "reason", r, "path", s.cfg.Path)
	}
}

// recovered turns history back on after a write succeeded.
func (s *Store) recovered() {
	s.hmu.Lock()
	was := s.reason
	s.reason = ""
	s.hmu.Unlock()
	if was != "" {
		s.log.Info("history is written again", "path", s.cfg.Path)
	}
}

func (s *Store) down() bool {
	ok, _ := s.Health()
	return !ok
}

// conn is the open database, or ErrUnavailable.
func (s *Store) conn() (*sql.DB, error) {
	if db := s.db.Load(); db != nil {
		return db, nil
	}
	return nil, ErrUnavailable
}

func wrap(doing string, err error) error { return fmt.Errorf("history: %s: %w", doing, err) }
