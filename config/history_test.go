package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultHistoryPath(t *testing.T) {
	for _, tt := range []struct {
		name                string
		stateDir, xdg, home string
		want                string
	}{
		{"a systemd service", "/var/lib/nxray:/other", "/x", "/home/u", "/var/lib/nxray/history.db"},
		{"XDG_STATE_HOME", "", "/home/u/state", "/home/u", "/home/u/state/nxray/history.db"},
		{"a relative XDG_STATE_HOME is ignored", "", "state", "/home/u", "/home/u/.local/state/nxray/history.db"},
		{"home", "", "", "/home/u", "/home/u/.local/state/nxray/history.db"},
		{"no home", "", "", "", "/var/lib/nxray/history.db"},
		{"a home of /", "", "", "/", "/var/lib/nxray/history.db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("STATE_DIRECTORY", tt.stateDir)
			t.Setenv("XDG_STATE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := DefaultHistoryPath(); got != tt.want {
				t.Errorf("DefaultHistoryPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHistorySettings(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("STATE_DIRECTORY", "")
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	want := History{Path: "/home/u/.local/state/nxray/history.db", Retention: 7 * 24 * time.Hour, MaxQueries: 1_000_000,
		MaxRate: 250}
	if cfg.History != want {
		t.Errorf("default %+v, want %+v", cfg.History, want)
	}
	t.Setenv("NXRAY_HISTORY_PATH", "")
	if cfg, err = load(t); err != nil || cfg.History.Path != "" {
		t.Errorf("NXRAY_HISTORY_PATH=\"\": path %q, %v; want none", cfg.History.Path, err)
	}
	t.Setenv("NXRAY_HISTORY_PATH", "/env/h.db")
	if cfg, err = load(t); err != nil || cfg.History.Path != "/env/h.db" {
		t.Errorf("from the environment: %q, %v", cfg.History.Path, err)
	}
	if cfg, err = load(t, "--history-path", "/flag/h.db"); err != nil || cfg.History.Path != "/flag/h.db" {
		t.Errorf("from the flag: %q, %v", cfg.History.Path, err)
	}
	file := writeFile(t, "history:\n  path: /file/h.db\n  retention: 48h\n  max_queries: 5000\n  max_rate: 50\n")
	t.Setenv("NXRAY_HISTORY_PATH", "")
	os := History{Path: "", Retention: 48 * time.Hour, MaxQueries: 5000, MaxRate: 50}
	if cfg, err = load(t, "--config", file); err != nil || cfg.History != os {
		t.Errorf("from the file, path from the environment: %+v, %v; want %+v", cfg.History, err, os)
	}
}

func TestHistoryErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"history:\n  retention: 30s\n", []string{"history.retention", "30s", "at least 1m0s"}},
		{"history:\n  max_queries: 10\n", []string{"history.max_queries", "10", "from 1000"}},
		{"history:\n  max_rate: 0\n", []string{"history.max_rate", "0", "from 1 to"}},
		{"history:\n  path: " + dir + "\n", []string{"history.path", dir, "is a directory"}},
	} {
		_, err := load(t, "--config", writeFile(t, tt.file))
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %v does not say %q", tt.file, err, w)
			}
		}
	}
}
