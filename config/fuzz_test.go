package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as a YAML file: it must
// return a configuration or an error, never panic, and never accept one
// that does not validate.
func FuzzLoad(f *testing.F) {
	example, _ := os.ReadFile("../nxray.example.yaml")
	f.Add(example)                                                              // the shipped example
	f.Add([]byte("listen: [\"127.0.0.1:5353\"]\nupstreams: [\"192.0.2.1\"]\n")) // a minimal file
	f.Add([]byte("cache:\n  size: -1\n"))                                       // a bad value
	f.Add([]byte("upstreams: [system]\nresolv_conf: /nonexistent\n"))
	f.Add([]byte("timeout: [1, 2]\n")) // the wrong shape
	f.Add([]byte("{{{"))               // not YAML
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "nxray.yaml")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		fs := Flags("fuzz")
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(fs)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that does not validate: %v", err)
		}
	})
}
