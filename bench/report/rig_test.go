package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// testdata/rig/results.tsv is a made-up results file of bench/rig.sh: three
// rounds of three rows (their order fixed by row lines, not by the first
// run lines), a lost query here and there, UDP drops (all, at the server's
// socket, at the upstream's) on a few lines (the rest have no such fields
// and read as 0), one forwarding run that
// sent more queries than its names file held, and a profile run (not
// counted). rig-want.md is its tables, checked by hand: medians over the
// rounds, lost summed over the hit, forwarding and latency runs.
func TestRigTables(t *testing.T) {
	dir := filepath.Join("testdata", "rig")
	var got bytes.Buffer
	if err := run([]string{"rig", "-lat-qps", "5000", filepath.Join(dir, "results.tsv")}, &got); err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, filepath.Join(dir, "rig-want.md")); got.String() != want {
		t.Errorf("rig tables differ\n--- got\n%s\n--- want\n%s", got.String(), want)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 100, 6}, 6},
	}
	for _, tt := range tests {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

func TestKQPS(t *testing.T) {
	for in, want := range map[string]string{"5000": "5k", "2000": "2k", "2500": "2500", "500": "500"} {
		if got := kQPS(in); got != want {
			t.Errorf("kQPS(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRigUsage(t *testing.T) {
	for _, args := range [][]string{{"rig"}, {"rig", "a", "b"}, {"rig", "testdata/rig/nope.tsv"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}
