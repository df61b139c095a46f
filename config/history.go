package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// History configures the history kept on disk: the query log and every
// verdict. It changes on restart only.
type History struct {
	// Path is the SQLite file; "" keeps no history.
	Path string `mapstructure:"path"`
	// Retention is how long queries and verdicts are kept.
	Retention time.Duration `mapstructure:"retention"`
	// MaxQueries caps the query log's rows; the oldest go first.
	MaxQueries int `mapstructure:"max_queries"`
	// MaxRate caps the query log's new rows a second, of successes and of
	// failures each (queries alike within a second share a row); beyond
	// it queries share a row per parent name (*.example.com.), as many
	// rows at most, and beyond those are dropped from the log and counted.
	MaxRate int `mapstructure:"max_rate"`
}

// Bounds of the history settings.
const (
	minRetention  = time.Minute
	minMaxQueries = 1000
	maxMaxQueries = 1_000_000_000
	maxMaxRate    = 1_000_000
)

// DefaultHistoryPath is where history is kept unless told otherwise:
// under systemd's StateDirectory= ($STATE_DIRECTORY, as the unit in
// contrib/systemd sets it) when run as a service, else
// $XDG_STATE_HOME/nxray/history.db, else ~/.local/state/nxray/history.db;
// with neither a state directory nor a home (a bare container, a service
// without StateDirectory=), /var/lib/nxray/history.db.
func DefaultHistoryPath() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return filepath.Join(d, "history.db")
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) { // the spec says to ignore a relative one
		return filepath.Join(d, "nxray", "history.db")
	}
	if h := os.Getenv("HOME"); h != "" && h != "/" {
		return filepath.Join(h, ".local", "state", "nxray", "history.db")
	}
	return "/var/lib/nxray/history.db"
}

// validateHistory checks the history settings.
func (c *Config) validateHistory(p *problems) {
	h := c.History
	if h.Path != "" {
		if fi, err := os.Stat(h.Path); err == nil && fi.IsDir() {
			p.bad("history.path", h.Path, "is a directory; give a file in it, such as "+filepath.Join(h.Path, "history.db"))
		}
	}
	if h.Retention < minRetention {
		p.bad("history.retention", h.Retention, "must be at least "+minRetention.String())
	}
	if h.MaxQueries < minMaxQueries || h.MaxQueries > maxMaxQueries {
		p.bad("history.max_queries", h.MaxQueries, "must be from 1000 to 1000000000")
	}
	if h.MaxRate < 1 || h.MaxRate > maxMaxRate {
		p.bad("history.max_rate", h.MaxRate, "must be from 1 to 1000000 rows a second")
	}
}
