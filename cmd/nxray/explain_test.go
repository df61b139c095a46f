package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nxray/nxray/internal/lab"
)

// explain's exit status tells a script what it found: 0 healthy, 1 a fault,
// 3 unknown, 2 a usage error.
func TestExplainExitStatus(t *testing.T) {
	h, anchors := startLab(t)
	valid, nonvalid := h.Resolvers[lab.RoleValidating], h.Resolvers[lab.RoleNonvalidating]
	labFlags := []string{"--upstream", valid, "--trust-anchors", anchors, "--root-hints", strings.Join(h.RootHints, ","),
		"--auth-port", fmt.Sprint(h.Port)}
	tests := []struct {
		name      string
		args      []string
		alternate string
		code      int
		cause     string
	}{
		{"healthy", []string{"www.ok.test"}, valid + "," + nonvalid, 0, "healthy"},
		{"fault", []string{"www.dsmismatch.test"}, valid + "," + nonvalid, 1, "dnssec_bogus"},
		{"nxdomain is a fault", []string{"nothere.ok.test", "AAAA"}, valid + "," + nonvalid, 1, "nxdomain_confirmed"},
		// The stale resolver still says NXDOMAIN for a name the upstream
		// resolves, and nothing nxray checks explains that.
		{"unknown", []string{"new.ok.test"}, h.Resolvers[lab.RoleStale], 3, "unknown"},
		{"json too", []string{"www.dsmismatch.test", "--json"}, valid + "," + nonvalid, 1, `"cause": "dnssec_bogus"`},
		{"usage", []string{"www.ok.test", "NOTATYPE"}, valid, 2, ""},
		{"configuration", []string{"www.ok.test", "--timeout", "0s"}, valid, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{"explain"}, tt.args...), labFlags...), "--alternate", tt.alternate)
			code, out, errs := runOut(t, args...)
			if code != tt.code || !strings.Contains(out, tt.cause) {
				t.Errorf("exit %d, want %d with %q\nstdout: %.200s\nstderr: %s", code, tt.code, tt.cause, out, errs)
			}
		})
	}
}
