#!/usr/bin/env bash
# Load benchmark: nxray vs CoreDNS, both forwarding to a local authoritative
# upstream (a second CoreDNS serving bench.test. with the `file` plugin).
#
#   bash bench/run.sh
#
# Everything listens on 127.0.0.1 and all traffic goes to 127.0.0.1.
# Server under test is pinned to CPU 0, dnsperf and the upstream to CPU 1.
# Prints a markdown table at the end; raw dnsperf output is kept in $WORK.
#
# Knobs (environment):
#   DURATION=8       seconds per throughput run (dnsperf -l)
#   REPS=3           throughput repetitions per server and scenario
#   CLIENTS=10       dnsperf -c
#   OUTSTANDING=100  dnsperf -q (max outstanding queries)
#   LAT_QPS=2000     fixed rate (dnsperf -Q) for the latency runs (p50/p99)
#   LAT_DURATION=10  seconds per latency run
#   COREDNS_VERSION=v1.15.0
#   COREDNS_BIN      path of a coredns binary (default: $HOME/go/bin/coredns,
#                    installed with `go install` if missing or wrong version)
#   NXRAY_BIN        use this nxray binary instead of building ./cmd/nxray
#   NXRAY_PORT=15353 COREDNS_PORT=15354 UPSTREAM_PORT=15400 (base ports; the
#                    next free port is taken if one is busy)
#   BENCH_SKIP_NXRAY=1  run only the CoreDNS/direct rows (script development)
set -euo pipefail

DURATION=${DURATION:-8}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-10}
OUTSTANDING=${OUTSTANDING:-100}
LAT_QPS=${LAT_QPS:-2000}
LAT_DURATION=${LAT_DURATION:-10}
ZONE_SIZE=${ZONE_SIZE:-5000}  # www0..www4999.bench.test A
HIT_NAMES=${HIT_NAMES:-100}   # cache-hit query set: www0..www99
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
COREDNS_BIN=${COREDNS_BIN:-$HOME/go/bin/coredns}
BENCH_SKIP_NXRAY=${BENCH_SKIP_NXRAY:-0}
SERVER_CPU=0
LOAD_CPU=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/nxray-bench.XXXXXX)
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup
PIDS=()
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
	rm -f "$WORK/nxray"   # built binary; logs stay in $WORK
	log "raw output kept in $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
	local p=$1
	kill "$p" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
}

# ---------------------------------------------------------- prerequisites
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, load on CPU 1)"
command -v taskset >/dev/null || die "taskset (util-linux) missing"
command -v go >/dev/null || die "go not found in PATH"

if ! command -v dnsperf >/dev/null; then
	log "installing dnsperf (apt-get)"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dnsperf >/dev/null
fi

want_cd="CoreDNS-${COREDNS_VERSION#v}"
if [ ! -x "$COREDNS_BIN" ] || [ "$("$COREDNS_BIN" -version 2>/dev/null | awk 'NR == 1')" != "$want_cd" ]; then
	log "installing CoreDNS $COREDNS_VERSION with go install (first time takes a few minutes)"
	mkdir -p "$(dirname "$COREDNS_BIN")"
	(cd "$WORK" && GOBIN="$(dirname "$COREDNS_BIN")" go install "github.com/coredns/coredns@$COREDNS_VERSION")
	[ "$(basename "$COREDNS_BIN")" = coredns ] || mv "$(dirname "$COREDNS_BIN")/coredns" "$COREDNS_BIN"
fi
COREDNS_VER_STR=$("$COREDNS_BIN" -version | awk 'NR == 1')

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
DNSPERF_VER=$(dnsperf -h 2>&1 | awk '/^Version / && !v {v = $2} END {print v}')

# ------------------------------------------------------------------ ports
port_busy() { # TCP or UDP listener on the port (any address family)?
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v h="$hex" 'NR>1 && substr($2, length($2)-4) == h {f=1} END {exit !f}' \
		/proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6 2>/dev/null
}
free_port() { # BASE [PORTS ALREADY CHOSEN...]
	local p=$1; shift
	for _ in $(seq 1 50); do
		if ! port_busy "$p" && [[ " $* " != *" $p "* ]]; then echo "$p"; return 0; fi
		p=$((p + 1))
	done
	die "no free port near $p"
}
UP_PORT=$(free_port "${UPSTREAM_PORT:-15400}")
NX_PORT=$(free_port "${NXRAY_PORT:-15353}" "$UP_PORT")
CD_PORT=$(free_port "${COREDNS_PORT:-15354}" "$UP_PORT" "$NX_PORT")

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
echo "www0.bench.test A" >"$WORK/q-probe.txt"

cat >"$WORK/Corefile.upstream" <<EOF
bench.test.:$UP_PORT {
    bind 127.0.0.1
    file $ZONE
}
EOF
cat >"$WORK/Corefile.cache" <<EOF
.:$CD_PORT {
    bind 127.0.0.1
    forward . 127.0.0.1:$UP_PORT
    cache
}
EOF
cat >"$WORK/Corefile.forward" <<EOF
.:$CD_PORT {
    bind 127.0.0.1
    forward . 127.0.0.1:$UP_PORT
}
EOF

# ------------------------------------------------------------ processes
# start_server NAME CPU CMD... ; sets STARTED_PID
start_server() {
	local name=$1 cpu=$2; shift 2
	taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}
probe() { # one query; succeeds if answered
	local out
	out=$(dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/q-probe.txt" -n 1 -t 1 2>/dev/null || true)
	[[ $out =~ Queries\ completed:\ +1\  ]]
}
wait_ready() { # PORT PID NAME
	for _ in $(seq 1 100); do
		kill -0 "$2" 2>/dev/null || { cat "$WORK/$3.log" >&2; die "$3 exited during start-up"; }
		probe "$1" && return 0
		sleep 0.1
	done
	cat "$WORK/$3.log" >&2
	die "$3 did not answer on 127.0.0.1:$1 within 10 s"
}
vmhwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

# ------------------------------------------------------------ measuring
# Result lines in $WORK/results.tsv:
#   kind scenario server rep qps sent completed lost avg_ms p50_ms p99_ms rss_mib
RES=$WORK/results.tsv
: >"$RES"

parse_dnsperf() { # FILE -> "qps sent completed lost avg_ms"
	awk '
		/Queries sent:/      {sent=$3}
		/Queries completed:/ {comp=$3}
		/Queries lost:/      {lost=$3}
		/Queries per second:/{qps=$4}
		/Average Latency/    {avg=$4*1000}
		END {printf "%.0f %s %s %s %.3f\n", qps, sent, comp, lost, avg}' "$1"
}

# throughput SCENARIO SERVER PORT PID QFILE REP
throughput() {
	local out=$WORK/tput-$1-$2-$6.txt
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$3" -d "$5" -l "$DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$out" 2>&1 || true
	local r; r=$(parse_dnsperf "$out")
	printf 'tput %s %s %s %s - - %s\n' "$1" "$2" "$6" "$r" "$(vmhwm_mib "$4")" >>"$RES"
	log "$(printf '%-8s %-8s rep %s: %s qps (sent completed lost avg_ms: %s)' "$1" "$2" "$6" "${r%% *}" "${r#* }")"
}

# latency SCENARIO SERVER PORT PID QFILE  (fixed rate, per-query latencies via -v)
latency() {
	local out=$WORK/lat-$1-$2.txt
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$3" -d "$5" -l "$LAT_DURATION" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t 2 -Q "$LAT_QPS" -v >"$out" 2>&1 || true
	local r pct
	r=$(parse_dnsperf "$out")
	pct=$(awk '/^> NOERROR/ {print $NF}' "$out" | sort -g |
		awk '{v[NR]=$1} END { if (NR == 0) {print "- -"; exit}
			i50=int(NR*0.50); if (i50<1) i50=1; i99=int(NR*0.99); if (i99<1) i99=1
			printf "%.3f %.3f\n", v[i50]*1000, v[i99]*1000 }')
	printf 'lat %s %s 1 %s %s %s\n' "$1" "$2" "$r" "$pct" "$(vmhwm_mib "$4")" >>"$RES"
	log "$(printf '%-8s %-8s latency @%s qps: avg/p50/p99 ms %s %s' "$1" "$2" "$LAT_QPS" "$(echo "$r" | awk '{print $5}')" "$pct")"
}

warmup() { # PORT QFILE: every name twice, then a short burst
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$1" -d "$2" -n 2 -c 1 -q 10 -t 2 >/dev/null 2>&1 || true
	taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l 2 -c "$CLIENTS" -t 2 >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- run
cpu_busy_pct() { # CPU use of the whole machine over 2 s, in percent
	local a b
	read -ra a < <(awk '/^cpu / {printf "%d %d\n", $2+$3+$4+$7+$8, $5+$6}' /proc/stat); sleep 2
	read -ra b < <(awk '/^cpu / {printf "%d %d\n", $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	awk -v bu=$((b[0] - a[0])) -v id=$((b[1] - a[1])) 'BEGIN {printf "%.0f", 100 * bu / (bu + id + 1e-9)}'
}
# Other work on the machine (builds, tests) ruins the numbers. Sample machine
# CPU use while our servers sit idle: before, between and after the scenarios.
BUSY_SAMPLES=()
idle_check() {
	local b; b=$(cpu_busy_pct)
	BUSY_SAMPLES+=("$1:$b%")
	if [ "$b" -gt 10 ]; then log "WARNING: machine ${b}% busy while idle ($1); results will be noisy"; fi
}
idle_check before
log "work dir $WORK; ports: upstream $UP_PORT, nxray $NX_PORT, coredns $CD_PORT"
log "$COREDNS_VER_STR; dnsperf $DNSPERF_VER; nxray $NXRAY_GIT"

start_server upstream $LOAD_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.upstream" -quiet
UP_PID=$STARTED_PID
wait_ready "$UP_PORT" "$UP_PID" upstream

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
	log "nxray extra flags (keep everything on loopback): ${NX_LOCAL[*]:-none}"
fi
offbox_check() { # PID NAME: warn about any socket not on loopback
	command -v ss >/dev/null || return 0
	local bad
	bad=$(ss -Htunap 2>/dev/null | grep "pid=$1," | awk '$6 !~ /^(127\.|\[::1\]|\[::ffff:127\.|\*:\*|0\.0\.0\.0:\*|\[::\]:\*)/' || true)
	[ -z "$bad" ] || log "WARNING: $2 has non-loopback sockets: $bad"
}

# --- scenario 1: cache hit ------------------------------------------------
log "scenario hit: nxray (cache on) vs CoreDNS forward+cache, $HIT_NAMES names"
servers=()
if [ -n "$NXRAY" ]; then
	start_server nxray-hit $SERVER_CPU env -u NXRAY_CACHE_SIZE "$NXRAY" serve --listen "127.0.0.1:$NX_PORT" \
		--upstream "127.0.0.1:$UP_PORT" --http "" --log-level warn "${NX_LOCAL[@]}"
	NX_PID=$STARTED_PID; wait_ready "$NX_PORT" "$NX_PID" nxray-hit
	warmup "$NX_PORT" "$WORK/q-hit.txt"
	servers+=("nxray:$NX_PORT:$NX_PID")
fi
start_server coredns-hit $SERVER_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.cache" -quiet
CD_PID=$STARTED_PID; wait_ready "$CD_PORT" "$CD_PID" coredns-hit
warmup "$CD_PORT" "$WORK/q-hit.txt"
servers+=("coredns:$CD_PORT:$CD_PID")

for rep in $(seq 1 "$REPS"); do
	for s in "${servers[@]}"; do
		IFS=: read -r name port pid <<<"$s"
		throughput hit "$name" "$port" "$pid" "$WORK/q-hit.txt" "$rep"
	done
done
for s in "${servers[@]}"; do
	IFS=: read -r name port pid <<<"$s"
	latency hit "$name" "$port" "$pid" "$WORK/q-hit.txt"
done
for s in "${servers[@]}"; do IFS=: read -r name _ pid <<<"$s"; offbox_check "$pid" "$name"; stop_pid "$pid"; done

idle_check between
# --- scenario 2: forwarding (no cache) + direct baseline -------------------
log "scenario fwd: nxray (NXRAY_CACHE_SIZE=0) vs CoreDNS forward only, $ZONE_SIZE names"
servers=("direct:$UP_PORT:$UP_PID")
if [ -n "$NXRAY" ]; then
	start_server nxray-fwd $SERVER_CPU env NXRAY_CACHE_SIZE=0 "$NXRAY" serve --listen "127.0.0.1:$NX_PORT" \
		--upstream "127.0.0.1:$UP_PORT" --http "" --log-level warn "${NX_LOCAL[@]}"
	NX_PID=$STARTED_PID; wait_ready "$NX_PORT" "$NX_PID" nxray-fwd
	warmup "$NX_PORT" "$WORK/q-fwd.txt"
	servers+=("nxray:$NX_PORT:$NX_PID")
fi
start_server coredns-fwd $SERVER_CPU "$COREDNS_BIN" -conf "$WORK/Corefile.forward" -quiet
CD_PID=$STARTED_PID; wait_ready "$CD_PORT" "$CD_PID" coredns-fwd
warmup "$CD_PORT" "$WORK/q-fwd.txt"
servers+=("coredns:$CD_PORT:$CD_PID")

for rep in $(seq 1 "$REPS"); do
	for s in "${servers[@]}"; do
		IFS=: read -r name port pid <<<"$s"
		throughput fwd "$name" "$port" "$pid" "$WORK/q-fwd.txt" "$rep"
	done
done
for s in "${servers[@]}"; do
	IFS=: read -r name port pid <<<"$s"
	latency fwd "$name" "$port" "$pid" "$WORK/q-fwd.txt"
done
for s in "${servers[@]:1}"; do IFS=: read -r name _ pid <<<"$s"; offbox_check "$pid" "$name"; stop_pid "$pid"; done

idle_check after
# --- nxray log check ---------------------------------------------------------
for f in "$WORK"/nxray-*.log; do
	[ -s "$f" ] || continue
	log "$(basename "$f") is not empty ($(wc -l <"$f") lines); first lines:"
	head -5 "$f" >&2
done

# ---------------------------------------------------------------- report
TABLE=$WORK/results.md
awk -v reps="$REPS" -v dur="$DURATION" -v latqps="$LAT_QPS" '
	function label(sc, sv) {
		if (sv == "direct") return "direct to upstream (baseline; RSS = upstream)"
		if (sc == "hit") return (sv == "nxray" ? "cache hit: nxray (cache on)" : "cache hit: CoreDNS forward+cache")
		return (sv == "nxray" ? "forwarding: nxray (NXRAY_CACHE_SIZE=0)" : "forwarding: CoreDNS forward only")
	}
	$1 == "tput" {
		k = $2 SUBSEP $3
		if (!(k in n)) order[++nk] = k
		n[k]++; q[k] += $5; qs[k] = qs[k] (qs[k] == "" ? "" : ", ") $5
		sent[k] += $6; lost[k] += $8; avg[k] += $9
		if ($12 + 0 > rss[k] + 0) rss[k] = $12
	}
	$1 == "lat" {
		k = $2 SUBSEP $3
		lavg[k] = $9; p50[k] = $10; p99[k] = $11; llost[k] = $8
		if ($12 + 0 > rss[k] + 0) rss[k] = $12
	}
	END {
		print "| scenario | QPS (mean) | QPS per rep | lost | avg latency at max load (ms) | latency @" latqps " qps avg / p50 / p99 (ms) | peak RSS (MiB) |"
		print "|---|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= nk; i++) {
			k = order[i]; split(k, a, SUBSEP)
			printf "| %s | %.0f | %s | %d (%.2f%%) | %.3f | %s / %s / %s%s | %s |\n",
				label(a[1], a[2]), q[k] / n[k], qs[k], lost[k], 100 * lost[k] / (sent[k] ? sent[k] : 1),
				avg[k] / n[k], lavg[k], p50[k], p99[k], (llost[k] > 0 ? " (" llost[k] " lost)" : ""), rss[k]
			mq[k] = q[k] / n[k]; ml[k] = avg[k] / n[k]
		}
		print ""
		h = "hit" SUBSEP "nxray"; c = "hit" SUBSEP "coredns"
		if ((h in mq) && mq[c] > 0)
			printf "- cache-hit QPS nxray/CoreDNS: %.2f (target >= 1.00: %s)\n", mq[h] / mq[c], (mq[h] >= mq[c] ? "MET" : "NOT MET")
		f = "fwd" SUBSEP "nxray"; d = "fwd" SUBSEP "direct"; fc = "fwd" SUBSEP "coredns"
		if ((f in mq) && (fc in mq) && mq[fc] > 0)
			printf "- forwarding QPS nxray/CoreDNS: %.2f\n", mq[f] / mq[fc]
		if ((f in lavg) && lavg[d] > 0) {
			printf "- forwarding latency @%s qps, nxray vs direct: avg %+.0f%%, p50 %+.0f%%, p99 %+.0f%% (target within +10%%: %s)\n",
				latqps, 100 * (lavg[f] / lavg[d] - 1), 100 * (p50[f] / p50[d] - 1), 100 * (p99[f] / p99[d] - 1),
				(lavg[f] <= 1.10 * lavg[d] ? "MET" : "NOT MET")
			printf "- forwarding avg latency at max load, nxray vs direct: %+.0f%%\n", 100 * (ml[f] / ml[d] - 1)
		}
		if ((fc in lavg) && lavg[d] > 0)
			printf "- forwarding latency @%s qps, CoreDNS vs direct: avg %+.0f%%, p50 %+.0f%%, p99 %+.0f%%\n",
				latqps, 100 * (lavg[fc] / lavg[d] - 1), 100 * (p50[fc] / p50[d] - 1), 100 * (p99[fc] / p99[d] - 1)
	}' "$RES" >"$TABLE"

{
	echo
	echo "## nxray load benchmark"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "- nxray $NXRAY_GIT; $COREDNS_VER_STR; dnsperf $DNSPERF_VER; $(go version | awk '{print $3}')"
	echo "- server under test on CPU $SERVER_CPU; dnsperf and upstream on CPU $LOAD_CPU; machine CPU use while the servers were idle (other load): ${BUSY_SAMPLES[*]}"
	echo "- throughput: dnsperf -l $DURATION -c $CLIENTS -q $OUTSTANDING -t 2 (no rate limit), $REPS reps, interleaved"
	echo "- latency: dnsperf -l $LAT_DURATION -c $CLIENTS -q $OUTSTANDING -t 2 -Q $LAT_QPS -v (percentiles from per-query latencies)"
	echo "- cache-hit set: $HIT_NAMES names (warmed up); forwarding set: $ZONE_SIZE names; upstream: CoreDNS file plugin, bench.test. zone with $ZONE_SIZE A records"
	echo
	cat "$TABLE"
}
