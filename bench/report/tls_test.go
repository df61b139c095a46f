package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// testdata/tls/results.tsv is a made-up results file of bench/tls.sh;
// tls-want.md is its table, checked by hand: medians over the saturation runs,
// lost and non-NOERROR answers summed over the saturation and latency runs,
// the deep run on its own, rows in order of first appearance.
func TestTLSTable(t *testing.T) {
	dir := filepath.Join("testdata", "tls")
	var got bytes.Buffer
	if err := run([]string{"tls", "-lat-qps", "2000", filepath.Join(dir, "results.tsv")}, &got); err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, filepath.Join(dir, "tls-want.md")); got.String() != want {
		t.Errorf("tls table differs\n--- got\n%s\n--- want\n%s", got.String(), want)
	}
	for _, args := range [][]string{{"tls"}, {"tls", "a", "b"}, {"tls", filepath.Join(dir, "nope.tsv")}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}
