// Command report computes and prints what bench/run.sh and bench/rig.sh
// measure: it reads dnsperf's outputs and the results file the script
// writes, and prints the figures and markdown tables. The script starts,
// pins and stops the processes; every statistic is worked out here.
//
//	report dnsperf FILE          qps sent completed lost avg_ms
//	report lat FILE              the same, then p50_ms p99_ms of NOERROR answers (dnsperf -v)
//	report kill FILE             qps sent completed lost avg_ms max_ms p50 p99 n>100ms n>400ms n>1s rcodes lowest_1s_rate
//	report rcodes FILE           NOERROR:123,NXDOMAIN:4
//	report alt SERVER WINDOWS HITS   floodalt: the "alt" lines of the hit run's 1-s intervals
//	report altsum SERVER RESULTS floodalt: one server's mean hits/s per phase, one line
//	report share A B START END   100 * (B - A) / (END - START), rounded: CPU time as % of one CPU
//	report gencpu TIMEFILE       bash's `time` "real user sys" as % of one CPU
//	report rss|hwm|cpusecs PID   VmRSS or VmHWM (MiB), or user+system CPU time (s)
//	report tables [flags] RESULTS    the markdown tables
//	report rig [-lat-qps N] RESULTS  bench/rig.sh's tables: medians over rounds (rig.go)
//
// It owns the arithmetic (means, ratios, percentiles, standard errors, CPU
// shares) and the tables' text; it does not start, pin or stop anything, and
// it needs nothing but the standard library. Its tests feed it dnsperf
// outputs and results files saved from real runs (testdata/README).
package main
