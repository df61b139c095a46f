package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: report dnsperf|lat|kill|rcodes|alt|altsum|share|gencpu|rss|hwm|cpusecs|tables|rig|tls ...")
	}
	cmd, args := args[0], args[1:]
	need := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s: want %d arguments, have %d", cmd, n, len(args))
		}
		return nil
	}
	switch cmd {
	case "dnsperf", "lat", "kill", "rcodes":
		if err := need(1); err != nil {
			return err
		}
		return printRun(w, cmd, args[0])
	case "alt":
		if err := need(3); err != nil {
			return err
		}
		return alt(w, args[0], args[1], args[2])
	case "altsum":
		if err := need(2); err != nil {
			return err
		}
		return altsum(w, args[0], args[1])
	case "share":
		if err := need(4); err != nil {
			return err
		}
		return share(w, args)
	case "gencpu":
		if err := need(1); err != nil {
			return err
		}
		return gencpu(w, args[0])
	case "rss", "hwm", "cpusecs":
		if err := need(1); err != nil {
			return err
		}
		return fromProc(w, cmd, args[0])
	case "tables":
		return tables(w, args)
	case "rig":
		return rigTables(w, args)
	case "tls":
		return tlsTables(w, args)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// printRun prints the line of the dnsperf, lat, kill or rcodes command
// for the dnsperf output at path.
func printRun(w io.Writer, cmd, path string) error {
	d, err := dnsperfFile(path)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, oneRun(cmd, d))
	return err
}

// altsum prints the summary of server's alternation rounds in the results
// file at path.
func altsum(w io.Writer, server, path string) error {
	res, err := resultsFile(path)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, res.alt.summary(server))
	return err
}

// share prints 100 * (B - A) / (END - START), rounded, of its arguments
// A B START END: CPU seconds used over a wall-clock span, as % of one CPU.
func share(w io.Writer, args []string) error {
	_, err := fmt.Fprintf(w, "%.0f\n", 100*(num(args[1])-num(args[0]))/(num(args[3])-num(args[2])))
	return err
}

// gencpu prints the CPU time in the file at path, bash's `time` output
// "real user sys", as % of one CPU.
func gencpu(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f := pad(strings.Fields(string(b)), 3)
	_, err = fmt.Fprintf(w, "%.0f\n", 100*(num(f[1])+num(f[2]))/(num(f[0])+1e-9))
	return err
}

// fromProc prints what the rss, hwm or cpusecs command reads of process
// pid in /proc.
func fromProc(w io.Writer, cmd, pid string) error {
	v := map[string]func() string{
		"rss":     func() string { return memMiB(pid, "VmRSS") },
		"hwm":     func() string { return memMiB(pid, "VmHWM") },
		"cpusecs": func() string { return cpuSeconds(pid) },
	}[cmd]()
	_, err := fmt.Fprintln(w, v)
	return err
}

// oneRun is the line that the dnsperf, lat, kill and rcodes commands print.
func oneRun(cmd string, d dnsperfRun) string {
	switch cmd {
	case "lat":
		return d.summary() + " " + d.percentiles()
	case "kill":
		rc := d.rcodes
		if rc == "" {
			rc = "-"
		}
		return strings.Join([]string{d.summary(), d.maxMs, d.percentiles(), d.slow(), rc, d.lowestRate()}, " ")
	case "rcodes":
		return d.rcodes
	}
	return d.summary()
}

func dnsperfFile(path string) (dnsperfRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return dnsperfRun{}, err
	}
	defer f.Close()
	return parseDnsperf(f)
}

func resultsFile(path string) (*results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readResults(f)
}

func alt(w io.Writer, server, windowsPath, hitsPath string) error {
	f, err := os.Open(windowsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	ws, err := readWindows(f)
	if err != nil {
		return err
	}
	d, err := dnsperfFile(hitsPath)
	if err != nil {
		return err
	}
	for _, l := range joinWindows(server, ws, d.perSecond) {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

func tables(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	var k knobs
	fs.StringVar(&k.duration, "duration", "8", "seconds per throughput run (DURATION)")
	fs.StringVar(&k.latQPS, "lat-qps", "2000", "rate of the latency runs (LAT_QPS)")
	fs.StringVar(&k.floodQPS, "flood-qps", "2000", "rate of the flood (FLOOD_QPS)")
	fs.StringVar(&k.settle, "settle", "10", "seconds of quiet after each flood round (FLOOD_SETTLE)")
	fs.StringVar(&k.killQPS, "kill-qps", "2000", "rate of the kill run (KILL_QPS)")
	fs.StringVar(&k.killAt, "kill-at", "4", "seconds into the kill run when upstream A dies (KILL_AT)")
	fs.StringVar(&k.killTimeout, "kill-timeout", "500ms", "nxray's --timeout in the kill run (KILL_TIMEOUT)")
	fs.StringVar(&k.killOutstanding, "kill-outstanding", "2000", "dnsperf -q in the kill run (KILL_OUTSTANDING)")
	fs.StringVar(&k.altWindow, "alt-window", "5", "floodalt window, s (ALT_WINDOW)")
	fs.IntVar(&k.altCycles, "alt-cycles", 8, "floodalt cycles (ALT_CYCLES)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("tables: want one results file, have %d", fs.NArg())
	}
	res, err := resultsFile(fs.Arg(0))
	if err != nil {
		return err
	}
	p := &printer{w: w}
	writeTables(p, res, k)
	return p.bad
}
