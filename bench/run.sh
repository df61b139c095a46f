#!/usr/bin/env bash
# Load benchmark: nxray vs CoreDNS, AdGuard dnsproxy and dnsdist, all
# forwarding to a local authoritative upstream (a second CoreDNS serving
# bench.test. with the `file` plugin); then each under a random-subdomain
# NXDOMAIN flood, and every forwarder while one of its two upstreams is
# killed mid-run.
#
#   bash bench/run.sh
#
# Everything listens on 127.0.0.1 and all traffic goes to 127.0.0.1.
# Server under test is pinned to CPU 0, dnsperf and the upstream(s) to CPU 1.
# Prints markdown tables at the end; raw dnsperf output is kept in $WORK.
# This script starts, pins and stops processes; bench/report (Go, built into
# $WORK first) reads dnsperf's outputs and works out every figure and table.
#
# Scenarios (BENCH_SCENARIOS, default "hit fwd flood floodalt kill"):
#   hit    cache hits: every server with its cache on, 100 warmed-up names
#   fwd    forwarding: every server with its cache off, 5000 names, plus
#          dnsperf straight to the upstream (baseline)
#   flood  each of FLOOD_SERVERS with its cache on: cache-hit throughput
#          without and during a random-subdomain NXDOMAIN flood
#          (rnd-N.bench.test. at FLOOD_QPS), plus a control run with the same
#          flood sent to the upstream directly, in FLOOD_ROUNDS interleaved
#          rounds; the server's RSS
#   floodalt  each of FLOOD_SERVERS with its cache on: one long cache-hit run
#          (dnsperf -S 1) while the flood is switched on and off: windows of
#          ALT_WINDOW s, no flood, flood to the upstream (control), no flood,
#          flood to the server, ALT_CYCLES times; each 1-s interval inside a
#          window (its first 0.5 s left out) counts for that window's phase.
#          Phases seconds apart see the same machine, so a host that slows
#          down or speeds up over minutes moves them alike.
#   kill   forwarding at KILL_QPS to two upstreams; the first is killed with
#          SIGKILL KILL_AT seconds into the run; lost queries, latency tail
#
# Knobs (environment):
#   DURATION=8       seconds per throughput run (dnsperf -l)
#   REPS=3           throughput repetitions per server and scenario
#   CLIENTS=10       dnsperf -c
#   OUTSTANDING=100  dnsperf -q (max outstanding queries)
#   LAT_QPS=2000     fixed rate (dnsperf -Q) for the latency runs (p50/p99)
#   LAT_DURATION=10  seconds per latency run
#   PEERS="coredns dnsproxy dnsdist"  peers run next to nxray
#   COREDNS_VERSION=v1.15.0
#   COREDNS_BIN      path of a coredns binary (default: $HOME/go/bin/coredns,
#                    installed with `go install` if missing or wrong version)
#   DNSPROXY_VERSION=v0.78.0
#   DNSPROXY_BIN     path of a dnsproxy binary (default: $HOME/go/bin/dnsproxy,
#                    built from the Go module if missing or wrong version)
#   DNSDIST_BIN=dnsdist (Debian package `dnsdist`, apt-get if missing)
#   FLOOD_SERVERS="nxray $PEERS"  servers put through the flood scenario
#   FLOOD_QPS=2000   rate of the NXDOMAIN flood (dnsperf -Q)
#   FLOOD_ROUNDS=5   rounds of (no flood, control, flood), one hit run each,
#                    each round starting one phase later
#   FLOOD_NAMES=30000  fresh flood names per round (rnd-N.bench.test.; a
#                    round sends (DURATION+3) * FLOOD_QPS of them)
#   FLOOD_SETTLE=10  seconds of quiet after each round
#                    (nxray's diagnosis queue drains in the background)
#   ALT_CYCLES=8 ALT_WINDOW=5  floodalt's cycles and window length (s)
#   FLOOD_CPU=1      CPU of the flood's dnsperf and, during flood and floodalt,
#                    the upstream. With SUT_CPU_QUOTA, FLOOD_CPU=0 puts them in
#                    the time of CPU 0 the capped server may not use, so that
#                    the hit dnsperf has CPU 1 to itself: on two CPUs, the
#                    flood then costs the hit generator nothing, and the
#                    control measures what sharing CPU 0 costs the server.
#   KILL_QPS=2000 KILL_DURATION=12 KILL_AT=4 KILL_TIMEOUT=500ms
#   KILL_OUTSTANDING=2000
#                    (KILL_TIMEOUT is nxray's --timeout in the kill scenario;
#                    dnsperf -q is large so that queries lost with the dead
#                    upstream do not fill dnsperf's window and stall it)
#   NXRAY_BIN        use this nxray binary instead of building ./cmd/nxray
#   NX_EXTRA         extra flags for nxray (word-split; give an empty value as
#                    --flag=); @WORK@ in them becomes the run's $WORK
#   nxrayB           a second nxray as a peer (PEERS="nxrayB"), for A/B runs
#                    at one machine hour: NXRAY_B_BIN (default: the same
#                    binary as nxray) with NXRAY_B_EXTRA (as NX_EXTRA) on
#                    NXRAY_B_PORT=15357; the report compares it as any peer
#   NX_HTTP=0        1: nxray and nxrayB serve HTTP on 127.0.0.1 (NX_HTTP_PORT
#                    =15380 and the next port), and their /metrics is saved
#                    to $WORK/metrics-TAG.txt before each is stopped; the
#                    nxray_history_* lines are printed at the end
#   NXRAY_PORT=15353 COREDNS_PORT=15354 DNSPROXY_PORT=15355 DNSDIST_PORT=15356
#   UPSTREAM_PORT=15400 (UPSTREAM_PORT+1, +2: the kill scenario's upstreams)
#                    base ports; the next free port is taken if one is busy
#   BENCH_SKIP_NXRAY=1  run only the peer/direct rows (script development)
#   SUT_CPU_QUOTA    cap each server under test at this percent of CPU 0 with
#                    a cgroup CPU quota (v2 cpu.max or v1 cfs_quota_us, 10 ms
#                    period; needs root). Unset: no cap. Without a cap, the
#                    fastest servers answer hits faster than one dnsperf on
#                    CPU 1 asks, so their hit figures measure dnsperf; with
#                    one (e.g. 60), the server is the bottleneck.
set -euo pipefail

DURATION=${DURATION:-8}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-10}
OUTSTANDING=${OUTSTANDING:-100}
LAT_QPS=${LAT_QPS:-2000}
LAT_DURATION=${LAT_DURATION:-10}
ZONE_SIZE=${ZONE_SIZE:-5000}  # www0..www4999.bench.test A
HIT_NAMES=${HIT_NAMES:-100}   # cache-hit query set: www0..www99
PEERS=${PEERS:-coredns dnsproxy dnsdist}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-hit fwd flood floodalt kill}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
COREDNS_BIN=${COREDNS_BIN:-$HOME/go/bin/coredns}
DNSPROXY_VERSION=${DNSPROXY_VERSION:-v0.78.0}
DNSPROXY_BIN=${DNSPROXY_BIN:-$HOME/go/bin/dnsproxy}
DNSDIST_BIN=${DNSDIST_BIN:-dnsdist}
FLOOD_SERVERS=${FLOOD_SERVERS:-nxray $PEERS}
FLOOD_QPS=${FLOOD_QPS:-2000}
FLOOD_NAMES=${FLOOD_NAMES:-30000}
FLOOD_ROUNDS=${FLOOD_ROUNDS:-5}
FLOOD_SETTLE=${FLOOD_SETTLE:-10}
ALT_CYCLES=${ALT_CYCLES:-8}
ALT_WINDOW=${ALT_WINDOW:-5}
KILL_QPS=${KILL_QPS:-2000}
KILL_DURATION=${KILL_DURATION:-12}
KILL_AT=${KILL_AT:-4}
KILL_TIMEOUT=${KILL_TIMEOUT:-500ms}
KILL_OUTSTANDING=${KILL_OUTSTANDING:-2000}
BENCH_SKIP_NXRAY=${BENCH_SKIP_NXRAY:-0}
SUT_CPU_QUOTA=${SUT_CPU_QUOTA:-}
SERVER_CPU=0
LOAD_CPU=1
FLOOD_CPU=${FLOOD_CPU:-$LOAD_CPU}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/nxray-bench.XXXXXX)
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; } # LIST WORD
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- cleanup
PIDS=()
CGROUP=
cleanup() {
	local rc=$?
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		# bounded wait, then SIGKILL
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	[ -z "$CGROUP" ] || rmdir "$CGROUP" 2>/dev/null || true
	rm -f "$WORK/nxray" "$WORK/report" # built binaries; logs stay in $WORK
	rm -rf "$WORK/dnsproxy-build"
	log "raw output kept in $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------- prerequisites
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, load on CPU 1)"
command -v taskset >/dev/null || die "taskset (util-linux) missing"
command -v go >/dev/null || die "go not found in PATH"

command -v dnsperf >/dev/null || apt_install dnsperf

want_cd="CoreDNS-${COREDNS_VERSION#v}"
if [ ! -x "$COREDNS_BIN" ] || [ "$("$COREDNS_BIN" -version 2>/dev/null | awk 'NR == 1')" != "$want_cd" ]; then
	log "installing CoreDNS $COREDNS_VERSION with go install (first time takes a few minutes)"
	mkdir -p "$(dirname "$COREDNS_BIN")"
	(cd "$WORK" && GOBIN="$(dirname "$COREDNS_BIN")" go install "github.com/coredns/coredns@$COREDNS_VERSION")
	[ "$(basename "$COREDNS_BIN")" = coredns ] || mv "$(dirname "$COREDNS_BIN")/coredns" "$COREDNS_BIN"
fi
COREDNS_VER_STR=$("$COREDNS_BIN" -version | awk 'NR == 1')

DNSPROXY_VER_STR="-"
if has "$PEERS" dnsproxy; then
	build_dnsproxy
	DNSPROXY_VER_STR=$("$DNSPROXY_BIN" --version 2>/dev/null | awk '{print $NF}')
fi

DNSDIST_VER_STR="-"
if has "$PEERS" dnsdist; then
	command -v "$DNSDIST_BIN" >/dev/null || apt_install dnsdist
	DNSDIST_VER_STR=$("$DNSDIST_BIN" --version 2>/dev/null | awk 'NR == 1 {print $2}')
fi

log "building the report (bench/report)"
(cd "$REPO" && go build -o "$WORK/report" ./bench/report) || die "building bench/report failed"
REPORT=$WORK/report

if [ "$BENCH_SKIP_NXRAY" = 1 ]; then
	NXRAY=""
elif [ -n "${NXRAY_BIN:-}" ]; then
	NXRAY=$NXRAY_BIN
else
	log "building nxray"
	(cd "$REPO" && go build -o "$WORK/nxray" ./cmd/nxray)
	NXRAY=$WORK/nxray
fi
NXRAY_GIT=$(cd "$REPO" && git describe --always --dirty 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo "no commit")
# a given binary need not be the checkout's: name both
[ -z "${NXRAY_BIN:-}" ] || NXRAY_GIT="$NXRAY_BIN ($("$NXRAY_BIN" version 2>/dev/null | head -1); the checkout is $NXRAY_GIT)"
NXRAY_B=${NXRAY_B_BIN:-$NXRAY}
NXRAY_B_STR=-
if has "$PEERS" nxrayB; then
	[ -x "$NXRAY_B" ] || die "nxrayB: no binary (NXRAY_B_BIN, or nxray's)"
	NXRAY_B_STR="$NXRAY_B ($("$NXRAY_B" version 2>/dev/null | head -1)) with ${NXRAY_B_EXTRA:-no extra flags}"
fi
NX_KILL=()
DNSPERF_VER=$(dnsperf -h 2>&1 | awk '/^Version / && !v {v = $2} END {print v}')

# ------------------------------------------------------------------ ports
CHOSEN=()
free_port() { # BASE
	local p=$1
	for _ in $(seq 1 50); do
		if ! port_busy "$p" && [[ " ${CHOSEN[*]} " != *" $p "* ]]; then CHOSEN+=("$p"); echo "$p"; return 0; fi
		p=$((p + 1))
	done
	die "no free port near $p"
}
# (free_port runs in a subshell via $(...): record each choice in CHOSEN here)
UP_PORT=$(free_port "${UPSTREAM_PORT:-15400}"); CHOSEN+=("$UP_PORT")
UPA_PORT=$(free_port "$((UP_PORT + 1))"); CHOSEN+=("$UPA_PORT")
UPB_PORT=$(free_port "$((UPA_PORT + 1))"); CHOSEN+=("$UPB_PORT")
NX_PORT=$(free_port "${NXRAY_PORT:-15353}"); CHOSEN+=("$NX_PORT")
CD_PORT=$(free_port "${COREDNS_PORT:-15354}"); CHOSEN+=("$CD_PORT")
DP_PORT=$(free_port "${DNSPROXY_PORT:-15355}"); CHOSEN+=("$DP_PORT")
DD_PORT=$(free_port "${DNSDIST_PORT:-15356}"); CHOSEN+=("$DD_PORT")
NB_PORT=$(free_port "${NXRAY_B_PORT:-15357}"); CHOSEN+=("$NB_PORT")
NH_PORT=$(free_port "${NX_HTTP_PORT:-15380}"); CHOSEN+=("$NH_PORT")
NBH_PORT=$(free_port "$((NH_PORT + 1))"); CHOSEN+=("$NBH_PORT")

# ------------------------------------------------------------- test data
ZONE=$WORK/bench.test.zone
{
	printf '$ORIGIN bench.test.\n$TTL 3600\n'
	printf '@ IN SOA ns.bench.test. admin.bench.test. 1 7200 3600 1209600 3600\n'
	printf '@ IN NS ns.bench.test.\nns IN A 127.0.0.1\n'
	awk -v n="$ZONE_SIZE" 'BEGIN { for (i = 0; i < n; i++)
		printf "www%d IN A 10.%d.%d.%d\n", i, int(i/65536)%256, int(i/256)%256, i%256 }'
} >"$ZONE"
awk -v n="$HIT_NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "www%d.bench.test A\n", i }' >"$WORK/q-hit.txt"
awk -v n="$ZONE_SIZE" 'BEGIN { for (i = 0; i < n; i++) printf "www%d.bench.test A\n", i }' >"$WORK/q-fwd.txt"
# one file of distinct names per flood round (round 2 continues where round 1 ended)
for i in $(seq 1 "$FLOOD_ROUNDS"); do
	awk -v n="$FLOOD_NAMES" -v o="$(((i - 1) * FLOOD_NAMES))" 'BEGIN { for (i = o; i < o + n; i++) printf "rnd-%d.bench.test A\n", i }' >"$WORK/q-flood-$i.txt"
done
echo "www0.bench.test A" >"$WORK/q-probe.txt"
# floodalt: fresh names for every window of every server, after the rounds'
alt_names=$((ALT_WINDOW * FLOOD_QPS + FLOOD_QPS))

corefile_upstream() { # PORT
	printf 'bench.test.:%s {\n    bind 127.0.0.1\n    file %s\n}\n' "$1" "$ZONE"
}
corefile_upstream "$UP_PORT" >"$WORK/Corefile.upstream"
corefile_upstream "$UPA_PORT" >"$WORK/Corefile.upstreamA"
corefile_upstream "$UPB_PORT" >"$WORK/Corefile.upstreamB"

# ------------------------------------------------------------ processes
# start_server NAME CPU CMD... ; sets STARTED_PID
start_server() {
	local name=$1 cpu=$2; shift 2
	taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
	# a server under test goes into the capped cgroup with all its threads
	if [ "$cpu" = "$SERVER_CPU" ] && [ -n "$CGROUP" ]; then echo "$STARTED_PID" >"$CGROUP/cgroup.procs"; fi
}
# cgroup_setup: a cgroup holding SUT_CPU_QUOTA% of one CPU, in CGROUP
cgroup_setup() {
	[ -n "$SUT_CPU_QUOTA" ] || return 0
	[[ $SUT_CPU_QUOTA =~ ^[0-9]+$ ]] && [ "$SUT_CPU_QUOTA" -ge 10 ] && [ "$SUT_CPU_QUOTA" -le 100 ] ||
		die "SUT_CPU_QUOTA=$SUT_CPU_QUOTA: want a percent of one CPU, 10 to 100"
	local quota=$((SUT_CPU_QUOTA * 100)) period=10000
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then # cgroup v2
		grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control ||
			die "cannot enable the cgroup v2 cpu controller"
		CGROUP=/sys/fs/cgroup/nxray-bench-$$
		mkdir "$CGROUP" && echo "$quota $period" >"$CGROUP/cpu.max" || die "cannot make $CGROUP"
	elif [ -d /sys/fs/cgroup/cpu ]; then # cgroup v1
		CGROUP=/sys/fs/cgroup/cpu/nxray-bench-$$
		mkdir "$CGROUP" && echo "$period" >"$CGROUP/cpu.cfs_period_us" && echo "$quota" >"$CGROUP/cpu.cfs_quota_us" ||
			die "cannot make $CGROUP"
	else
		die "SUT_CPU_QUOTA needs cgroup CPU control (/sys/fs/cgroup)"
	fi
	log "servers under test capped at ${SUT_CPU_QUOTA}% of CPU $SERVER_CPU ($CGROUP)"
}
probe() { # one query; succeeds if answered
	local out
	out=$(dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/q-probe.txt" -n 1 -t 1 2>/dev/null || true)
	[[ $out =~ Queries\ completed:\ +1\  ]]
}
vmhwm_mib() { "$REPORT" hwm "$1"; }     # peak RSS, MiB ("?" once the process is gone)
vmrss_mib() { "$REPORT" rss "$1"; }
cpu_secs() { "$REPORT" cpusecs "$1"; }  # utime + stime, s

# nxray's failure diagnosis may query other resolvers (--alternate defaults to
# public ones) or walk from the root servers. Point all of that at the local
# upstream and turn annotation off, so that nothing can leave 127.0.0.1.
NX_LOCAL=()
if [ -n "$NXRAY" ]; then
	nx_help=$("$NXRAY" serve --help 2>&1 || true)
	for kv in "--alternate=127.0.0.1:$UP_PORT" "--root-hints=127.0.0.1" \
		"--auth-port=$UP_PORT" "--annotate=off"; do
		if grep -q -- "${kv%%=*} " <<<"$nx_help"; then NX_LOCAL+=("$kv"); fi
	done
fi

# Config of each server under test. MODE is "hit" (cache on) or "fwd" (cache
# off); UPSTREAMS is one or more ports on 127.0.0.1, in order of preference.
write_configs() { # NAME MODE UPSTREAM_PORTS...
	local name=$1 mode=$2; shift 2
	local u
	case $name in
	coredns)
		{
			printf '.:%s {\n    bind 127.0.0.1\n    forward .' "$CD_PORT"
			for u in "$@"; do printf ' 127.0.0.1:%s' "$u"; done
			# sequential: the first upstream first, like nxray's failover
			[ $# -gt 1 ] && printf ' {\n        policy sequential\n    }'
			printf '\n'
			[ "$mode" = hit ] && printf '    cache\n'
			printf '}\n'
		} >"$WORK/Corefile.$mode"
		;;
	dnsdist)
		{
			echo "setSecurityPollSuffix('')  -- no security-status queries to the Internet"
			echo "setLocal('127.0.0.1:$DD_PORT')"
			local order=1
			for u in "$@"; do
				# health check with a name the upstream serves (it REFUSES the default a.root-servers.net.)
				echo "newServer({address='127.0.0.1:$u', order=$order, checkName='www0.bench.test.', checkInterval=1})"
				order=$((order + 1))
			done
			# the first upstream first, like nxray's failover
			[ $# -gt 1 ] && echo "setServerPolicy(firstAvailable)"
			if [ "$mode" = hit ]; then
				echo "pc = newPacketCache(10000)"
				echo "getPool(''):setCache(pc)"
			fi
		} >"$WORK/dnsdist-$mode.conf"
		;;
	esac
}

# start_sut NAME MODE UPSTREAM_PORTS... ; starts a server under test on CPU 0,
# sets STARTED_PID and STARTED_PORT. Extra nxray flags in NX_EXTRA, nxrayB's
# in NXB_EXTRA.
read -ra NX_EXTRA <<<"${NX_EXTRA:-}"
read -ra NXB_EXTRA <<<"${NXRAY_B_EXTRA:-}"
NX_EXTRA=("${NX_EXTRA[@]//@WORK@/$WORK}")
NXB_EXTRA=("${NXB_EXTRA[@]//@WORK@/$WORK}")
NX_HTTP=${NX_HTTP:-0}
nx_http() { # NAME: nxray's --http value
	[ "$NX_HTTP" = 1 ] || return 0
	if [ "$1" = nxray ]; then echo "127.0.0.1:$NH_PORT"; else echo "127.0.0.1:$NBH_PORT"; fi
}
# stop_sut PID NAME TAG: the socket check, nxray's /metrics saved, stopped
stop_sut() {
	offbox_check "$1" "$2"
	if [ "$NX_HTTP" = 1 ] && [[ $2 == nxray* ]]; then
		curl -s -m 5 "http://$(nx_http "$2")/metrics" >"$WORK/metrics-$3.txt" || log "no /metrics from $2 ($3)"
	fi
	stop_pid "$1"
}
start_sut() {
	local name=$1 mode=$2; shift 2
	local u ups=() tag=$name-$mode${TAG_SUFFIX:-}
	write_configs "$name" "$mode" "$@"
	case $name in
	nxray | nxrayB)
		for u in "$@"; do ups+=(--upstream "127.0.0.1:$u"); done
		local cs=10000 bin=$NXRAY port=$NX_PORT extra=("${NX_EXTRA[@]}")
		[ "$mode" = fwd ] && cs=0
		[ "$name" = nxrayB ] && { bin=$NXRAY_B; port=$NB_PORT; extra=("${NXB_EXTRA[@]}" "${NX_KILL[@]}"); }
		[ "$name" = nxray ] && extra+=("${NX_KILL[@]}")
		start_server "$tag" $SERVER_CPU env -u NXRAY_CACHE_SIZE "$bin" serve --listen "127.0.0.1:$port" \
			"${ups[@]}" --cache-size "$cs" --http "$(nx_http "$name")" --log-level warn "${NX_LOCAL[@]}" "${extra[@]}"
		STARTED_PORT=$port
		;;
	coredns)
		start_server "$tag" $SERVER_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.$mode" -quiet
		STARTED_PORT=$CD_PORT
		;;
	dnsproxy)
		for u in "$@"; do ups+=(-u "127.0.0.1:$u"); done
		local c=(); [ "$mode" = hit ] && c=(--cache)
		# with two upstreams: parallel mode would double the upstream load;
		# the default load_balance prefers the faster upstream
		start_server "$tag" $SERVER_CPU "$DNSPROXY_BIN" -l 127.0.0.1 -p "$DP_PORT" "${ups[@]}" "${c[@]}" --timeout 2s
		STARTED_PORT=$DP_PORT
		;;
	dnsdist)
		start_server "$tag" $SERVER_CPU "$DNSDIST_BIN" --supervised --disable-syslog -C "$WORK/dnsdist-$mode.conf"
		STARTED_PORT=$DD_PORT
		;;
	*) die "unknown server $name" ;;
	esac
	wait_ready "$STARTED_PORT" "$STARTED_PID" "$tag"
}

# ------------------------------------------------------------ measuring
# Result lines in $WORK/results.tsv:
#   kind scenario server rep qps sent completed lost avg_ms p50_ms p99_ms rss_mib
RES=$WORK/results.tsv
: >"$RES"

parse_dnsperf() { "$REPORT" dnsperf "$1"; } # FILE -> "qps sent completed lost avg_ms"

# throughput SCENARIO SERVER PORT PID QFILE REP
throughput() {
	local out=$WORK/tput-$1-$2-$6.txt c0 c1 t0 t1 cpu TIMEFORMAT='%R %U %S'
	c0=$(cpu_secs "$4"); t0=$(date +%s.%N)
	# bash's `time` reports dnsperf's own CPU (taskset execs it): GEN_CPU,
	# in % of one CPU, tells whether the load generator was the bottleneck
	{ time taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$3" -d "$5" -l "$DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1 || true; } 2>"$out.time"
	GEN_CPU=$("$REPORT" gencpu "$out.time")
	c1=$(cpu_secs "$4"); t1=$(date +%s.%N)
	cpu=$("$REPORT" share "$c0" "$c1" "$t0" "$t1")
	local r; r=$(parse_dnsperf "$out")
	printf 'tput %s %s %s %s - - %s %s\n' "$1" "$2" "$6" "$r" "$(vmhwm_mib "$4")" "$cpu" >>"$RES"
	log "$(printf '%-10s %-8s rep %s: %s qps (sent completed lost avg_ms: %s; server CPU %s%%)' "$1" "$2" "$6" "${r%% *}" "${r#* }" "$cpu")"
}

# latency SCENARIO SERVER PORT PID QFILE  (fixed rate, per-query latencies via -v)
latency() {
	local out=$WORK/lat-$1-$2.txt
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$3" -d "$5" -l "$LAT_DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 -Q "$LAT_QPS" -v >"$out" 2>&1 || true
	local r _ avg p50 p99
	r=$("$REPORT" lat "$out") # qps sent completed lost avg_ms p50_ms p99_ms
	read -r _ _ _ _ avg p50 p99 <<<"$r"
	printf 'lat %s %s 1 %s %s\n' "$1" "$2" "$r" "$(vmhwm_mib "$4")" >>"$RES"
	log "$(printf '%-10s %-8s latency @%s qps: avg/p50/p99 ms %s %s %s' "$1" "$2" "$LAT_QPS" "$avg" "$p50" "$p99")"
}

warmup() { # PORT QFILE: every name twice, then a short burst
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$1" -d "$2" -n 2 -c 1 -q 10 -t 2 >/dev/null 2>&1 || true
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l 2 -c "$CLIENTS" -t 2 >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- run
# Other work on the machine (builds, tests) ruins the numbers. Sample machine
# CPU use while our servers sit idle: before, between and after the scenarios.
# Steal time: CPU time the VM's host gave to others while the VM wanted it;
# reported per scenario (share of all CPU time since the previous check).
BUSY_SAMPLES=()
STEAL_SAMPLES=()
steal_ticks() { awk '/^cpu / {printf "%d %d\n", $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
read -r STEAL0 TOTAL0 < <(steal_ticks)
idle_check() {
	local b st tt; b=$(cpu_busy_pct)
	read -r st tt < <(steal_ticks)
	STEAL_SAMPLES+=("$1:$(awk -v s=$((st - STEAL0)) -v t=$((tt - TOTAL0)) 'BEGIN {printf "%.1f", 100 * s / (t + 1e-9)}')%")
	STEAL0=$st; TOTAL0=$tt
	BUSY_SAMPLES+=("$1:$b%")
	if [ "$b" -gt 10 ]; then log "WARNING: machine ${b}% busy while idle ($1); results will be noisy"; fi
}

idle_check before
cgroup_setup
log "work dir $WORK; ports: upstream $UP_PORT (kill scenario $UPA_PORT, $UPB_PORT), nxray $NX_PORT, coredns $CD_PORT, dnsproxy $DP_PORT, dnsdist $DD_PORT"
log "$COREDNS_VER_STR; dnsproxy $DNSPROXY_VER_STR; dnsdist $DNSDIST_VER_STR; dnsperf $DNSPERF_VER; nxray $NXRAY_GIT"
[ -n "$NXRAY" ] && log "nxray extra flags (keep everything on loopback): ${NX_LOCAL[*]:-none}"

start_server upstream $LOAD_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.upstream" -quiet
UP_PID=$STARTED_PID
wait_ready "$UP_PORT" "$UP_PID" upstream

SUTS=()
[ -n "$NXRAY" ] && SUTS+=(nxray)
for p in $PEERS; do SUTS+=("$p"); done

# run_scenario MODE QFILE: start every server, interleave REPS throughput
# runs, one latency run each, stop them.
run_scenario() {
	local mode=$1 qfile=$2 s name port pid rep
	local servers=()
	[ "$mode" = fwd ] && servers+=("direct:$UP_PORT:$UP_PID")
	for s in "${SUTS[@]}"; do
		start_sut "$s" "$mode" "$UP_PORT"
		warmup "$STARTED_PORT" "$qfile"
		servers+=("$s:$STARTED_PORT:$STARTED_PID")
	done
	for rep in $(seq 1 "$REPS"); do
		for s in "${servers[@]}"; do
			IFS=: read -r name port pid <<<"$s"
			throughput "$mode" "$name" "$port" "$pid" "$qfile" "$rep"
		done
	done
	for s in "${servers[@]}"; do
		IFS=: read -r name port pid <<<"$s"
		latency "$mode" "$name" "$port" "$pid" "$qfile"
	done
	for s in "${servers[@]}"; do
		IFS=: read -r name _ pid <<<"$s"
		[ "$name" = direct ] && continue
		stop_sut "$pid" "$name" "$name-$mode"
	done
}

# --- scenario hit: cache hit -----------------------------------------------
if has "$BENCH_SCENARIOS" hit; then
	log "scenario hit: ${SUTS[*]} with their caches on, $HIT_NAMES names"
	run_scenario hit "$WORK/q-hit.txt"
	idle_check after-hit
fi

# --- scenario fwd: forwarding (no cache) + direct baseline -----------------
if has "$BENCH_SCENARIOS" fwd; then
	log "scenario fwd: direct and ${SUTS[*]} with their caches off, $ZONE_SIZE names"
	run_scenario fwd "$WORK/q-fwd.txt"
	idle_check after-fwd
fi

# The upstream moves to FLOOD_CPU for the flood scenarios, and back after.
if [ "$FLOOD_CPU" != "$LOAD_CPU" ] && { has "$BENCH_SCENARIOS" flood || has "$BENCH_SCENARIOS" floodalt; }; then
	log "flood scenarios: the flood's dnsperf and the upstream on CPU $FLOOD_CPU"
	taskset -a -p -c "$FLOOD_CPU" "$UP_PID" >/dev/null
fi

# --- scenario flood: cache hits during a random-subdomain NXDOMAIN flood ----
# For each server in FLOOD_SERVERS, with its cache on: FLOOD_ROUNDS rounds of
# three cache-hit runs, "off" (no flood), "ctl" (the flood sent straight to
# the upstream: CPU 1, where dnsperf and the upstream run, carries the
# flood's load but the server does not) and "on" (the flood sent to the
# server), in an order that moves on by one each round, then FLOOD_SETTLE s
# of quiet. Each round floods FLOOD_NAMES fresh names. Result lines:
#   tput flood-PHASE SERVER ROUND ...   (as in throughput)
#   floodinfo SERVER KEY VALUE...
if has "$BENCH_SCENARIOS" flood; then
	fl_len=$((DURATION + 3))
	flood_run() { # SERVER PORT PID PHASE ROUND TARGET_PORT|none
		local sv=$1 port=$2 pid=$3 phase=$4 round=$5 target=$6 fpid="" c0 c1 t0 t1 r
		if [ "$target" != none ]; then
			taskset -c "$FLOOD_CPU" dnsperf -s 127.0.0.1 -p "$target" -d "$WORK/q-flood-$round.txt" -l "$fl_len" \
				-Q "$FLOOD_QPS" -c "$CLIENTS" -q 1000 -t 2 >"$WORK/flood-$sv-$phase-$round.txt" 2>&1 </dev/null &
			fpid=$!; PIDS+=("$fpid")
		fi
		# 1.5 s of unmeasured hits first, so that every measured run starts on a
		# busy machine (the first run after a quiet spell measured lower)
		taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/q-hit.txt" -l 1.5 \
			-c "$CLIENTS" -q "$OUTSTANDING" -t 2 >/dev/null 2>&1 || true
		c0=$(cpu_secs "$pid"); t0=$(date +%s.%N)
		throughput "flood-$phase" "$sv" "$port" "$pid" "$WORK/q-hit.txt" "$round"
		c1=$(cpu_secs "$pid"); t1=$(date +%s.%N)
		echo "floodinfo $sv cpu-$phase-$round $("$REPORT" share "$c0" "$c1" "$t0" "$t1")" >>"$RES"
		echo "floodinfo $sv gencpu-$phase-$round $GEN_CPU" >>"$RES"
		if [ -n "$fpid" ]; then
			# dnsperf stops by itself after -l; bounded wait
			for _ in $(seq 1 $((fl_len * 10 + 100))); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.1; done
			stop_pid "$fpid"
			r=$(parse_dnsperf "$WORK/flood-$sv-$phase-$round.txt")
			echo "floodinfo $sv flood-$phase-$round $r $("$REPORT" rcodes "$WORK/flood-$sv-$phase-$round.txt")" >>"$RES"
			log "flood to $target (phase $phase, round $round): qps sent completed lost avg_ms: $r"
		fi
	}
	for sv in $FLOOD_SERVERS; do
		[ "$sv" = nxray ] && [ -z "$NXRAY" ] && continue
		log "scenario flood: $sv cache hits without and during a ${FLOOD_QPS} qps NXDOMAIN flood, $FLOOD_ROUNDS rounds"
		TAG_SUFFIX=-flood start_sut "$sv" hit "$UP_PORT"; fl_pid=$STARTED_PID; fl_port=$STARTED_PORT
		warmup "$fl_port" "$WORK/q-hit.txt"
		echo "floodinfo $sv rss-start $(vmrss_mib "$fl_pid") $(vmhwm_mib "$fl_pid")" >>"$RES"
		for round in $(seq 1 "$FLOOD_ROUNDS"); do
			# The phases take turns at going first, so that a machine that
			# slows down or speeds up within a round favours none of them.
			for k in 0 1 2; do
				case $(((k + round - 1) % 3)) in
				0) flood_run "$sv" "$fl_port" "$fl_pid" off "$round" none ;;
				1) flood_run "$sv" "$fl_port" "$fl_pid" ctl "$round" "$UP_PORT" ;;
				2) flood_run "$sv" "$fl_port" "$fl_pid" on "$round" "$fl_port" ;;
				esac
			done
			echo "floodinfo $sv rss-on-$round $(vmrss_mib "$fl_pid") $(vmhwm_mib "$fl_pid")" >>"$RES"
			log "$sv RSS right after flood round $round: $(vmrss_mib "$fl_pid") MiB (peak $(vmhwm_mib "$fl_pid") MiB)"
			sleep "$FLOOD_SETTLE"
		done
		echo "floodinfo $sv rss-end $(vmrss_mib "$fl_pid") $(vmhwm_mib "$fl_pid")" >>"$RES"
		echo "floodinfo $sv loglines $(wc -l <"$WORK/$sv-hit-flood.log")" >>"$RES"
		stop_sut "$fl_pid" "$sv" "$sv-flood"
		idle_check "after-flood-$sv"
	done
fi

# --- scenario floodalt: the flood switched on and off under one hit run -----
# Result lines:
#   alt SERVER PHASE CYCLE QPS        one 1-s interval of the hit run
#   altinfo SERVER KEY VALUE...
if has "$BENCH_SCENARIOS" floodalt; then
	alt_file=0
	for sv in $FLOOD_SERVERS; do
		[ "$sv" = nxray ] && [ -z "$NXRAY" ] && continue
		log "scenario floodalt: $sv cache hits while a ${FLOOD_QPS} qps NXDOMAIN flood is switched on and off every ${ALT_WINDOW} s, $ALT_CYCLES cycles"
		TAG_SUFFIX=-floodalt start_sut "$sv" hit "$UP_PORT"; pid=$STARTED_PID; port=$STARTED_PORT
		warmup "$port" "$WORK/q-hit.txt"
		hits=$WORK/alt-$sv-hits.txt windows=$WORK/alt-$sv-windows.txt
		: >"$windows"
		for cycle in $(seq 1 "$ALT_CYCLES"); do
			for phase in ctl on; do
				alt_file=$((alt_file + 1))
				awk -v n="$alt_names" -v o="$((FLOOD_ROUNDS * FLOOD_NAMES + alt_file * alt_names))" \
					'BEGIN { for (i = o; i < o + n; i++) printf "rnd-%d.bench.test A\n", i }' >"$WORK/q-alt-$sv-$phase-$cycle.txt"
			done
		done
		taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/q-hit.txt" -l $((ALT_CYCLES * 4 * ALT_WINDOW + 4)) \
			-c "$CLIENTS" -q "$OUTSTANDING" -t 2 -S 1 >"$hits" 2>&1 </dev/null &
		hp=$!; PIDS+=("$hp")
		sleep 2
		c0=$(cpu_secs "$pid")
		for cycle in $(seq 1 "$ALT_CYCLES"); do
			for phase in off ctl off on; do
				t0=$(date +%s.%N)
				if [ "$phase" = off ]; then
					sleep "$ALT_WINDOW"
				else
					target=$port
					[ "$phase" = ctl ] && target=$UP_PORT
					taskset -c "$FLOOD_CPU" dnsperf -s 127.0.0.1 -p "$target" -d "$WORK/q-alt-$sv-$phase-$cycle.txt" -l "$ALT_WINDOW" \
						-Q "$FLOOD_QPS" -c "$CLIENTS" -q 1000 -t 2 >"$WORK/alt-$sv-flood.txt" 2>&1 </dev/null || true
					echo "altinfo $sv flood-$phase-$cycle $(parse_dnsperf "$WORK/alt-$sv-flood.txt")" >>"$RES"
				fi
				echo "$phase $cycle $t0 $(date +%s.%N)" >>"$windows"
			done
		done
		c1=$(cpu_secs "$pid")
		for _ in $(seq 1 100); do kill -0 "$hp" 2>/dev/null || break; sleep 0.1; done
		stop_pid "$hp"
		# each 1-s interval of the hit run (dnsperf -S 1) into its window
		"$REPORT" alt "$sv" "$windows" "$hits" >>"$RES"
		echo "altinfo $sv cpu $("$REPORT" share "$c0" "$c1" 0 $((ALT_CYCLES * 4 * ALT_WINDOW)))" >>"$RES"
		echo "altinfo $sv rss-end $(vmrss_mib "$pid") $(vmhwm_mib "$pid")" >>"$RES"
		log "floodalt $sv: $("$REPORT" altsum "$sv" "$RES")"
		stop_sut "$pid" "$sv" "$sv-floodalt"
		idle_check "after-floodalt-$sv"
	done
fi

[ "$FLOOD_CPU" = "$LOAD_CPU" ] || taskset -a -p -c "$LOAD_CPU" "$UP_PID" >/dev/null

# --- scenario kill: first of two upstreams killed mid-run ------------------
# Result lines: kill SERVER qps sent completed lost avg_ms max_ms p50 p99
#   n>100ms n>400ms n>1s rcodes lowest-1s-rate
if has "$BENCH_SCENARIOS" kill; then
	log "scenario kill: forwarding at $KILL_QPS qps to two upstreams, the first killed with SIGKILL at ${KILL_AT}s"
	for s in "${SUTS[@]}"; do
		start_server "upstreamA-$s" $LOAD_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.upstreamA" -quiet
		UPA_PID=$STARTED_PID; wait_ready "$UPA_PORT" "$UPA_PID" "upstreamA-$s"
		start_server "upstreamB-$s" $LOAD_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.upstreamB" -quiet
		UPB_PID=$STARTED_PID; wait_ready "$UPB_PORT" "$UPB_PID" "upstreamB-$s"
		NX_KILL=(--timeout "$KILL_TIMEOUT")
		TAG_SUFFIX=-kill start_sut "$s" fwd "$UPA_PORT" "$UPB_PORT"
		NX_KILL=()
		pid=$STARTED_PID; port=$STARTED_PORT
		sleep 2 # let health checks (dnsdist) settle
		out=$WORK/kill-$s.txt
		taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/q-fwd.txt" -l "$KILL_DURATION" \
			-c "$CLIENTS" -q "$KILL_OUTSTANDING" -t 2 -Q "$KILL_QPS" -S 1 -v >"$out" 2>&1 </dev/null &
		dp=$!; PIDS+=("$dp")
		sleep "$KILL_AT"
		{ kill -9 "$UPA_PID"; wait "$UPA_PID"; } 2>/dev/null || true
		for _ in $(seq 1 $(((KILL_DURATION + 5) * 10))); do kill -0 "$dp" 2>/dev/null || break; sleep 0.1; done
		stop_pid "$dp"
		r=$("$REPORT" kill "$out")
		echo "kill $s $r" >>"$RES"
		log "kill $s: qps sent completed lost avg_ms max_ms p50 p99 >100ms >400ms >1s rcodes lowest-1s-rate: $r"
		stop_sut "$pid" "$s" "$s-kill"
		stop_pid "$UPB_PID"; stop_pid "$UPA_PID"
	done
	idle_check after-kill
fi

# --- log check ---------------------------------------------------------------
for f in "$WORK"/nxray-*.log; do
	[ -s "$f" ] || continue
	log "$(basename "$f") is not empty ($(wc -l <"$f") lines); first lines:"
	head -5 "$f" >&2
done

# --- nxray's history metrics (NX_HTTP=1) -------------------------------------
for f in "$WORK"/metrics-*.txt; do
	[ -s "$f" ] || continue
	log "$(basename "$f" .txt): $(grep -E '^nxray_history' "$f" | tr '\n' ' ')"
done

# ---------------------------------------------------------------- report
TABLE=$WORK/results.md
"$REPORT" tables -duration "$DURATION" -lat-qps "$LAT_QPS" -flood-qps "$FLOOD_QPS" -settle "$FLOOD_SETTLE" \
	-kill-qps "$KILL_QPS" -kill-at "$KILL_AT" -kill-timeout "$KILL_TIMEOUT" -kill-outstanding "$KILL_OUTSTANDING" \
	-alt-window "$ALT_WINDOW" -alt-cycles "$ALT_CYCLES" "$RES" >"$TABLE"

{
	echo
	echo "## nxray load benchmark"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- nxray $NXRAY_GIT${NX_EXTRA[*]:+ with ${NX_EXTRA[*]}}; nxrayB $NXRAY_B_STR; $COREDNS_VER_STR; dnsproxy $DNSPROXY_VER_STR; dnsdist $DNSDIST_VER_STR; dnsperf $DNSPERF_VER; $(go version | awk '{print $3}')"
	[ -z "$SUT_CPU_QUOTA" ] || echo "- every server under test capped at ${SUT_CPU_QUOTA}% of CPU $SERVER_CPU (cgroup CPU quota, 10 ms period)"
	[ "$FLOOD_CPU" = "$LOAD_CPU" ] || echo "- flood scenarios: the flood's dnsperf and the upstream on CPU $FLOOD_CPU, outside the servers' cgroup"
	echo "- server under test on CPU $SERVER_CPU; dnsperf and upstream on CPU $LOAD_CPU; machine CPU use while the servers were idle (other load): ${BUSY_SAMPLES[*]}"
	echo "- CPU time stolen by the VM's host, share of all CPU time up to each check: ${STEAL_SAMPLES[*]}"
	echo "- throughput: dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING -t 2 (no rate limit), $REPS reps, interleaved"
	echo "- latency: dnsperf -l $LAT_DURATION -c $CLIENTS -q $OUTSTANDING -t 2 -Q $LAT_QPS -v (percentiles from per-query latencies)"
	echo "- cache-hit set: $HIT_NAMES names (warmed up); forwarding set: $ZONE_SIZE names; upstream: CoreDNS file plugin, bench.test. zone with $ZONE_SIZE A records"
	echo
	cat "$TABLE"
}
