package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every diagnosis key can be set from the file, the environment and its
// flag, and reaches Config as written.
func TestDiagnosisKeys(t *testing.T) {
	want := Diagnosis{Workers: 8, QueueSize: 4096, StoreSize: 50000, VerdictTTL: time.Hour, ProbeRate: 2.5,
		ProbeBurst: 5, ProbeBudget: 200, Timeout: 30 * time.Second, DenyNetworks: Default().Diagnosis.DenyNetworks}
	file := writeFile(t, `
diagnosis:
  workers: 8
  queue_size: 4096
  store_size: 50000
  verdict_ttl: 1h
  probe_rate: 2.5
  probe_burst: 5
  probe_budget: 200
  timeout: 30s
`)
	cfg, err := load(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Diagnosis, want) {
		t.Errorf("from the file: %+v, want %+v", cfg.Diagnosis, want)
	}

	cfg, err = load(t, "--diagnosis-workers", "8", "--diagnosis-queue-size", "4096", "--diagnosis-store-size", "50000",
		"--diagnosis-verdict-ttl", "1h", "--diagnosis-probe-rate", "2.5", "--diagnosis-probe-burst", "5",
		"--diagnosis-probe-budget", "200", "--diagnosis-timeout", "30s")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Diagnosis, want) {
		t.Errorf("from the flags: %+v, want %+v", cfg.Diagnosis, want)
	}

	cfg, err = load(t)
	if err != nil {
		t.Fatal(err)
	}
	if d := Default().Diagnosis; !reflect.DeepEqual(cfg.Diagnosis, d) || d.Workers != 4 || d.QueueSize != 256 || d.StoreSize != 1000 ||
		d.VerdictTTL != 10*time.Minute || d.ProbeRate != 100 || d.ProbeBurst != 20 || d.ProbeBudget != 64 ||
		d.Timeout != 10*time.Second {
		t.Errorf("defaults: %+v, want the engine's 4, 256, 1000, 10m, 100/s, 20, 64, 10s", cfg.Diagnosis)
	}

	t.Setenv("NXRAY_DIAGNOSIS_PROBE_RATE", "0.5")
	t.Setenv("NXRAY_DIAGNOSIS_VERDICT_TTL", "90s")
	cfg, err = load(t, "--config", file, "--diagnosis-workers", "16")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Diagnosis; d.ProbeRate != 0.5 || d.VerdictTTL != 90*time.Second || d.Workers != 16 || d.QueueSize != 4096 {
		t.Errorf("environment over file, flag over both: %+v", d)
	}
}

// A bad diagnosis value stops the load with an error naming the key (and,
// when it decoded, the value). Zero is refused, not taken as the default.
func TestDiagnosisBadValues(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // besides the key; "" for decoding errors that show no value
	}{
		{"workers", "0", `"0": must be from 1 to 256`},
		{"workers", "-1", `"-1"`},
		{"workers", "257", `"257"`},
		{"workers", "many", ""},
		{"workers", "2.5", "2.5 is not a whole number"},
		{"queue_size", "0", `"0"`},
		{"queue_size", "1000001", `"1000001": must be from 1 to 1000000`},
		{"queue_size", "[1]", ""},
		{"store_size", "0", `"0"`},
		{"store_size", "-10", `"-10"`},
		{"store_size", "2000000", `"2000000"`},
		{"verdict_ttl", "0s", `"0s": must be above zero`},
		{"verdict_ttl", "-1m", `"-1m0s"`},
		{"verdict_ttl", "soon", `"soon" is not a duration`},
		{"verdict_ttl", "10", "give a unit"},
		{"probe_rate", "0", `"0": must be above 0 and at most 10000`},
		{"probe_rate", "-1", `"-1"`},
		{"probe_rate", "10000.5", `"10000.5"`},
		{"probe_rate", ".nan", `"NaN"`},
		{"probe_rate", "fast", ""},
		{"probe_burst", "0", `"0"`},
		{"probe_burst", "10001", `"10001": must be from 1 to 10000`},
		{"probe_budget", "0", `"0"`},
		{"probe_budget", "-64", `"-64"`},
		{"probe_budget", "10001", `"10001"`},
		{"timeout", "0s", `"0s": must be above zero`},
		{"timeout", "-5s", `"-5s"`},
		{"timeout", "1 hour", `"1 hour" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := load(t, "--config", writeFile(t, "diagnosis:\n  "+tt.key+": "+tt.value+"\n"))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range []string{"diagnosis." + tt.key, tt.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The flags are checked the same way.
	if _, err := load(t, "--diagnosis-workers", "0"); err == nil || !strings.Contains(err.Error(), `diagnosis.workers: "0"`) {
		t.Errorf("--diagnosis-workers 0: %v", err)
	}
}

// The bounds themselves are allowed.
func TestDiagnosisBounds(t *testing.T) {
	file := writeFile(t, "diagnosis:\n  workers: 256\n  queue_size: 1000000\n  store_size: 1\n  verdict_ttl: 1ms\n"+
		"  probe_rate: 10000\n  probe_burst: 10000\n  probe_budget: 1\n  timeout: 1ms\n")
	if _, err := load(t, "--config", file); err != nil {
		t.Errorf("the bounds: %v", err)
	}
	if cfg, err := load(t, "--diagnosis-probe-rate", "0.01"); err != nil || cfg.Diagnosis.ProbeRate != 0.01 {
		t.Errorf("a probe every 100s: %v %v", cfg.Diagnosis.ProbeRate, err)
	}
}

// A bare 0 is a duration in any unit, and 8.0 is a whole number: both load.
func TestNumbersThatMeanWhatTheySay(t *testing.T) {
	cfg, err := load(t, "--config", writeFile(t, "cache:\n  min_ttl: 0\ndiagnosis:\n  workers: 8.0\n"))
	if err != nil || cfg.Cache.MinTTL != 0 || cfg.Diagnosis.Workers != 8 {
		t.Errorf("min_ttl %s workers %d: %v", cfg.Cache.MinTTL, cfg.Diagnosis.Workers, err)
	}
}
