package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// zonesOf gives the parsed forward zones as "zone=up,up" for comparison.
func zonesOf(cfg Config) []string {
	var out []string
	for _, z := range cfg.Parsed.ForwardZones {
		var ups []string
		for _, u := range z.Upstreams {
			ups = append(ups, u.String())
		}
		out = append(out, z.Zone+"="+strings.Join(ups, ","))
	}
	return out
}

func TestForwardZonesFromEachSource(t *testing.T) {
	want := []string{"lab.corp.example.=10.0.0.54:53", "corp.example.=10.0.0.53:53,tcp://10.0.0.55:53"}
	t.Run("file", func(t *testing.T) {
		// Dotted map keys: viper alone would read corp.example. as nested keys.
		cfg, err := load(t, "--config", writeFile(t, "forward_zones:\n  Corp.Example: [10.0.0.53, \"tcp://10.0.0.55:53\"]\n  lab.corp.example.: 10.0.0.54\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := zonesOf(cfg); !slices.Equal(got, want) {
			t.Errorf("forward zones = %q, want %q (longest first)", got, want)
		}
	})
	t.Run("env", func(t *testing.T) {
		t.Setenv("NXRAY_FORWARD_ZONES", "corp.example=10.0.0.53,tcp://10.0.0.55:53; lab.corp.example.=10.0.0.54")
		cfg, err := load(t)
		if err != nil {
			t.Fatal(err)
		}
		if got := zonesOf(cfg); !slices.Equal(got, want) {
			t.Errorf("forward zones = %q, want %q", got, want)
		}
	})
	t.Run("flags", func(t *testing.T) {
		t.Setenv("NXRAY_FORWARD_ZONES", "other.example=10.9.9.9") // the flags win
		cfg, err := load(t, "--forward-zone", "corp.example=10.0.0.53,tcp://10.0.0.55:53", "--forward-zone", "lab.corp.example=10.0.0.54")
		if err != nil {
			t.Fatal(err)
		}
		if got := zonesOf(cfg); !slices.Equal(got, want) {
			t.Errorf("forward zones = %q, want %q", got, want)
		}
	})
}

func TestPrivateZones(t *testing.T) {
	cfg, err := load(t, "--forward-zone", "corp.example=10.0.0.53")
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []string{"corp.example.", "home.arpa.", "local.", "internal.", "168.192.in-addr.arpa.", "31.172.in-addr.arpa.", "d.f.ip6.arpa."} {
		if !slices.Contains(cfg.Parsed.PrivateZones, z) {
			t.Errorf("%s is not private by default: %q", z, cfg.Parsed.PrivateZones)
		}
	}
	for name, want := range map[string]string{
		"WWW.Corp.Example.": "corp.example.", "printer.home.arpa.": "home.arpa.", "1.1.168.192.in-addr.arpa.": "168.192.in-addr.arpa.",
		"example.com.": "", "32.172.in-addr.arpa.": "", "notcorp.example.": "",
	} {
		if got := ZoneOf(name, cfg.Parsed.PrivateZones); got != want {
			t.Errorf("ZoneOf(%s) = %q, want %q", name, got, want)
		}
	}
	cfg, err = load(t, "--config", writeFile(t, "private_zones: [Lab.Test]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Parsed.PrivateZones, []string{"lab.test."}) {
		t.Errorf("private_zones replaces the defaults: got %q", cfg.Parsed.PrivateZones)
	}
}

func TestForwardZonesErrors(t *testing.T) {
	for _, tt := range []struct{ arg, want string }{
		{"corp.example", "want zone=upstream"},
		{"corp.example=", "want zone=upstream"},
		{"corp..example=10.0.0.53", "not a domain name"},
		{".=10.0.0.53", "the root is every name"},
		{"corp.example=10.0.0.300", `forward_zones: corp.example.: "10.0.0.300"`},
		{"<b>x</b>.example=10.0.0.53", "not a domain name"},
	} {
		_, err := load(t, "--forward-zone", tt.arg)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--forward-zone %s: err = %v, want one naming %q", tt.arg, err, tt.want)
		}
	}
	_, err := load(t, "--forward-zone", "a.example=10.0.0.1", "--forward-zone", "A.example.=10.0.0.2")
	if err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a zone given twice: err = %v", err)
	}
	_, err = load(t, "--listen", "127.0.0.1:5300", "--forward-zone", "a.example=127.0.0.1:5300")
	if err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("a forward zone's upstream that is nxray itself: err = %v", err)
	}
	_, err = load(t, "--config", writeFile(t, "forward_zones:\n  corp.example: {a: b}\n"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "forward_zones") {
		t.Errorf("a map for upstreams: err = %v", err)
	}
}
