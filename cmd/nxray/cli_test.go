package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nxray/nxray/internal/version"
)

// runOut runs nxray with args and returns its exit code, stdout and stderr.
func runOut(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(args, &out, &errs, nil)
	return code, out.String(), errs.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := runOut(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d, want 0", args, code)
		}
		for _, cmd := range []string{"serve", "explain", "demo", "health", "flush", "version", "completion"} {
			// One line each: the name, then its summary.
			if !regexp.MustCompile(`(?m)^  ` + cmd + ` +\S.*$`).MatchString(out) {
				t.Errorf("%v does not list %s on a line of its own:\n%s", args, cmd, out)
			}
		}
	}
}

// Each command's help shows the flags it takes and no others.
func TestHelpShowsOnlyTheCommandsFlags(t *testing.T) {
	tests := []struct {
		args       []string
		has, lacks []string
	}{
		{[]string{"explain", "--help"},
			[]string{"--config", "--upstream", "--alternate", "--root-hints", "--trust-anchors", "--auth-port", "--timeout", "--json", "Exit status"},
			[]string{"--cache-size", "--diagnosis-workers", "--listen", "--http", "--log-format", "--strategy", "--acl", "--annotate"}},
		{[]string{"serve", "--help"},
			[]string{"--listen", "--upstream", "--cache-size", "--diagnosis-workers", "--http", "--log-format"},
			[]string{"--json", "--dns"}},
		{[]string{"health", "--help"},
			[]string{"--config", "--http", "--listen", "--dns", "Exit status"},
			[]string{"--upstream", "--cache-size", "--json"}},
		{[]string{"demo", "--help"}, []string{"--listen", "--http", "offline"}, []string{"--upstream", "--config"}},
		{[]string{"flush", "--help"},
			[]string{"--config", "--http", "--http-token", "NXRAY_HTTP_TOKEN", "every name under it", "Exit status"},
			[]string{"--upstream", "--listen", "--cache-size", "--dns"}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			code, out, _ := runOut(t, tt.args...)
			if code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			for _, w := range tt.has {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %s:\n%s", w, out)
				}
			}
			for _, w := range tt.lacks {
				if strings.Contains(out, w+" ") {
					t.Errorf("help lists %s, which %s does not take:\n%s", w, tt.args[0], out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	want := version.Get().String() + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		code, out, _ := runOut(t, args...)
		if code != 0 || out != want || !strings.HasPrefix(out, "nxray ") {
			t.Errorf("%v: exit %d, %q; want exit 0 and %q", args, code, out, want)
		}
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_nxray", "zsh": "#compdef nxray", "fish": "complete -c nxray"} {
		code, out, _ := runOut(t, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, no %q in:\n%.300s", shell, code, want, out)
		}
	}
	// What the scripts ask for: explain's flags, without serve's.
	_, out, _ := runOut(t, "__complete", "explain", "--")
	if !strings.Contains(out, "--root-hints") || strings.Contains(out, "--cache-size") {
		t.Errorf("completing explain's flags:\n%s", out)
	}
	_, out, _ = runOut(t, "__complete", "serve", "--strategy", "")
	if !strings.Contains(out, "parallel") {
		t.Errorf("completing --strategy:\n%s", out)
	}
}

func TestDefaultToServe(t *testing.T) {
	tests := []struct{ in, want []string }{
		{nil, []string{"serve"}},
		{[]string{"--listen", "127.0.0.1:5353"}, []string{"serve", "--listen", "127.0.0.1:5353"}},
		{[]string{"--help"}, []string{"--help"}},
		{[]string{"--version"}, []string{"--version"}},
		{[]string{"explain", "a.test"}, []string{"explain", "a.test"}},
	}
	for _, tt := range tests {
		if got := defaultToServe(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("defaultToServe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Usage errors exit 2 and say where the help is.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "nxray"`},
		{[]string{"explain", "--cache-size", "5", "a.test"}, "unknown flag: --cache-size"},
		{[]string{"explain", "a.test", "A", "extra"}, "want NAME [TYPE]"},
		{[]string{"health", "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"version", "extra"}, `unknown command "extra" for "nxray version"`},
	}
	for _, tt := range tests {
		code, _, errs := runOut(t, tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) || !strings.Contains(errs, "--help") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
	}
}
