package config

import (
	"strings"
	"testing"
)

// Each mistake a user makes is named in the error: the key, the variable,
// the value, and for a typo the key meant.
func TestErrorsNameTheMistake(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		file string
		args []string
		want []string
	}{
		{name: "unknown key", file: "bogus_key: 1\n", want: []string{`unknown key "bogus_key"`}},
		{name: "typo in a nested key", file: "cache:\n  sise: 10\n", want: []string{`unknown key "cache.sise"`, `did you mean "cache.size"?`}},
		{name: "a count from the environment", env: map[string]string{"NXRAY_CACHE_SIZE": "abc"},
			want: []string{`NXRAY_CACHE_SIZE="abc"`, "cache.size", "not a whole number"}},
		{name: "a duration from the environment", env: map[string]string{"NXRAY_TIMEOUT": "5"},
			want: []string{`NXRAY_TIMEOUT="5"`, "not a duration"}},
		{name: "a boolean from the environment", env: map[string]string{"NXRAY_LOG_QUERIES": "perhaps"},
			want: []string{`NXRAY_LOG_QUERIES="perhaps"`, "not true or false"}},
		{name: "a listen address twice", args: []string{"--listen", "127.0.0.1:5300", "--listen", "127.0.0.1:5300"},
			want: []string{`listen: "127.0.0.1:5300": given twice`}},
		{name: "an http_hosts port out of range", file: "http_hosts: [\"nxray.lab:99999\"]\n",
			want: []string{"http_hosts", "nxray.lab:99999"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, tt.file))
			}
			_, err := load(t, args...)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A flag beats a bad environment value: the variable is not blamed.
func TestFlagOverridesBadEnvironment(t *testing.T) {
	t.Setenv("NXRAY_CACHE_SIZE", "abc")
	cfg, err := load(t, "--cache-size", "5")
	if err != nil || cfg.Cache.Size != 5 {
		t.Errorf("cache size %d, err %v; want 5 from the flag", cfg.Cache.Size, err)
	}
}

// NXRAY_HTTP= (set, empty) turns the status page off, as --http "" does.
func TestEmptyEnvironmentValue(t *testing.T) {
	t.Setenv("NXRAY_HTTP", "")
	cfg, err := load(t)
	if err != nil || cfg.HTTP != "" {
		t.Errorf("http %q, err %v; want it off", cfg.HTTP, err)
	}
}

// root_hints takes a YAML list like every other list key, as well as the
// comma-separated string.
func TestRootHintsList(t *testing.T) {
	cfg, err := load(t, "--config", writeFile(t, "root_hints: [127.0.0.10, \"127.0.0.11\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Parsed.RootHints; len(got) != 2 || got[0] != "127.0.0.10" || got[1] != "127.0.0.11" {
		t.Errorf("root hints %v", got)
	}
}
