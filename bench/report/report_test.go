package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each directory under testdata with a want.md holds a results.tsv and the
// tables that bench/run.sh's awk printed for it (before the report moved into
// Go; see testdata/README). The Go tables must be the same, byte for byte.
func TestTablesMatchAwk(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/want.md")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no testdata/*/want.md (%v)", err)
	}
	for _, want := range dirs {
		dir := filepath.Dir(want)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			args := strings.Fields(readFile(t, filepath.Join(dir, "flags")))
			args = append(args, filepath.Join(dir, "results.tsv"))
			var got bytes.Buffer
			if err := run(append([]string{"tables"}, args...), &got); err != nil {
				t.Fatal(err)
			}
			if w := readFile(t, want); got.String() != w {
				t.Errorf("tables differ from awk's\n--- got\n%s\n--- want\n%s", got.String(), w)
			}
		})
	}
}

// The alt lines that the Go join of a windows file and a dnsperf -S 1
// output gives are those awk wrote into the same run's results.tsv.
func TestJoinWindowsMatchesAwk(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/alt-*-windows.txt")
	if len(files) == 0 {
		t.Fatal("no testdata/*/alt-*-windows.txt")
	}
	for _, wf := range files {
		dir := filepath.Dir(wf)
		server := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(wf), "alt-"), "-windows.txt")
		t.Run(filepath.Base(dir)+"/"+server, func(t *testing.T) {
			var got bytes.Buffer
			if err := run([]string{"alt", server, wf, filepath.Join(dir, "alt-"+server+"-hits.txt")}, &got); err != nil {
				t.Fatal(err)
			}
			want := linesWithPrefix(t, filepath.Join(dir, "results.tsv"), "alt "+server+" ")
			if got.String() != want {
				t.Errorf("alt lines differ from results.tsv's\n--- got\n%s--- want\n%s", got.String(), want)
			}
		})
	}
}

// Each saved dnsperf output named in testdata/*/outputs ("FILE COMMAND
// PREFIX", PREFIX starting its line in results.tsv) reads as the figures awk
// wrote for it. The dnsperf -v outputs of latency runs are gzipped.
func TestDnsperfOutputsMatchAwk(t *testing.T) {
	lists, _ := filepath.Glob("testdata/*/outputs")
	if len(lists) == 0 {
		t.Fatal("no testdata/*/outputs")
	}
	for _, list := range lists {
		dir := filepath.Dir(list)
		for _, l := range strings.Split(strings.TrimSpace(readFile(t, list)), "\n") {
			file, rest, _ := strings.Cut(l, " ")
			cmd, prefix, _ := strings.Cut(rest, " ")
			t.Run(filepath.Base(dir)+"/"+file, func(t *testing.T) {
				var got bytes.Buffer
				if err := run([]string{cmd, unzipped(t, filepath.Join(dir, file))}, &got); err != nil {
					t.Fatal(err)
				}
				want := strings.TrimPrefix(linesWithPrefix(t, filepath.Join(dir, "results.tsv"), prefix+" "), prefix+" ")
				// a lat or tput line carries the peak RSS (and CPU) after dnsperf's figures
				if n := len(strings.Fields(got.String())); len(strings.Fields(want)) > n {
					want = strings.Join(strings.Fields(want)[:n], " ") + "\n"
				}
				if got.String() != want {
					t.Errorf("%s %s = %q, results.tsv has %q", cmd, file, got.String(), want)
				}
			})
		}
	}
}

func TestParseDnsperf(t *testing.T) {
	const out = `[Status] Command line: dnsperf -S 1 -v
1796220777.361513: 93287.222664
> NOERROR www0.bench.test A 0.000300
1796220778.363336: 93023.418308
> NOERROR www1.bench.test A 0.000100
> SERVFAIL www2.bench.test A 0.900000
> NOERROR www3.bench.test A 0.450000
> NOERROR www4.bench.test A 0.000200
Statistics:

  Queries sent:         10000
  Queries completed:    9990 (99.90%)
  Queries lost:         10 (0.10%)

  Response codes:       NOERROR 9980 (99.80%), SERVFAIL 10 (0.10%)
  Queries per second:   1999.5

  Average Latency (s):  0.000218 (min 0.000068, max 0.011761)
`
	d, err := parseDnsperf(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"summary", d.summary(), "2000 10000 9990 10 0.218"},
		{"rcodes", d.rcodes, "NOERROR:9980,SERVFAIL:10"},
		// NOERROR only, sorted: 0.1 0.2 0.3 450 ms; p50 is the 2nd, p99 the 3rd
		{"percentiles", d.percentiles(), "0.200 0.300"},
		{"slow", d.slow(), "1 1 0"},
		{"lowest rate", d.lowestRate(), "93023"},
		{"max", d.maxMs, "11.761"},
		{"kill", oneRun("kill", d), "2000 10000 9990 10 0.218 11.761 0.200 0.300 1 1 0 NOERROR:9980,SERVFAIL:10 93023"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestEmptyDnsperf(t *testing.T) {
	d, err := parseDnsperf(strings.NewReader("dnsperf: cannot open socket\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := oneRun("kill", d), "0    0.000  - - 0 0 0 - 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMeanSE(t *testing.T) {
	tests := []struct {
		name                string
		xs                  []float64
		mean, se, low, high float64
	}{
		{"one", []float64{0.9}, 0.9, 0, 0.9, 0.9},
		{"two", []float64{0.8, 1.0}, 0.9, 0.1, 0.8, 1.0},
		{"four", []float64{1, 2, 3, 4}, 2.5, 0.6454972243679028, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, se, lo, hi := meanSE(tt.xs)
			for _, c := range [][2]float64{{m, tt.mean}, {se, tt.se}, {lo, tt.low}, {hi, tt.high}} {
				if d := c[0] - c[1]; d > 1e-12 || d < -1e-12 {
					t.Errorf("meanSE(%v) = %v %v %v %v, want %v %v %v %v", tt.xs, m, se, lo, hi, tt.mean, tt.se, tt.low, tt.high)
				}
			}
		})
	}
}

func TestNumAndAwkNumber(t *testing.T) {
	nums := []struct {
		in   string
		want float64
	}{{"12.5", 12.5}, {"1796220777.361513:", 1796220777.361513}, {"?", 0}, {"", 0}, {"3ms", 3}, {"nan", 0}}
	for _, tt := range nums {
		if got := num(tt.in); got != tt.want {
			t.Errorf("num(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	prints := []struct {
		in   float64
		want string
	}{{501, "501"}, {146.195, "146.195"}, {0.1234567, "0.123457"}}
	for _, tt := range prints {
		if got := awkNumber(tt.in); got != tt.want {
			t.Errorf("awkNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShareAndUsage(t *testing.T) {
	var b bytes.Buffer
	if err := run([]string{"share", "10.00", "13.00", "100.0", "105.0"}, &b); err != nil || b.String() != "60\n" {
		t.Errorf("share = %q, %v; want 60", b.String(), err)
	}
	for _, args := range [][]string{nil, {"nope"}, {"share", "1"}, {"tables"}} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unzipped is path, or for a .gz file the path of its contents in a temporary directory.
func unzipped(t *testing.T, path string) string {
	t.Helper()
	if !strings.HasSuffix(path, ".gz") {
		return path
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), ".gz"))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func linesWithPrefix(t *testing.T, path, prefix string) string {
	t.Helper()
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			b.WriteString(sc.Text() + "\n")
		}
	}
	return b.String()
}
