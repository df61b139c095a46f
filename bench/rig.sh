#!/usr/bin/env bash
# A second benchmark rig, shaped like an independent reviewer's: nxray next
# to dnsdist (and optionally Unbound and CoreDNS), all forwarding to a Knot
# DNS authoritative upstream, with their caches on.
#
#   bash bench/rig.sh
#
# Per server, medians of ROUNDS rounds (rounds interleaved between servers):
#   cache-hit QPS    dnsperf over the 1000 names h0..h999.rig.test., warmed
#                    up first so that every one is cached
#   forwarding QPS   unique names from the zone's wildcard, never asked twice
#                    in the whole run, so every query misses the cache
#   latency          avg and p99 at a fixed rate (LAT_QPS, -Q) over unique
#                    names, p99 from dnsperf -v's per-query latencies
#   queries lost     dnsperf's "Queries lost", summed over the server's runs
#   RSS              the server's VmHWM after its runs
# plus a first row, "querying the upstream directly": dnsperf straight to knot.
#
# Each server under test runs alone on CPU SERVER_CPU (taskset); dnsperf and
# knotd share CPU LOAD_CPU. Everything listens on 127.0.0.1 only and all
# traffic goes to 127.0.0.1; every address in the zone is in 127.0.0.0/8.
# Raw dnsperf outputs, server logs and results.tsv stay in $WORK (a fresh
# mktemp -d, printed at the end); bench/report (`report rig`) works out the
# medians and prints the tables.
#
# Knobs (environment):
#   DURATION=10       seconds per throughput run (dnsperf -l), hit and forwarding
#   LAT_DURATION=10   seconds per latency run
#   LAT_QPS=5000      rate of the latency runs (dnsperf -Q)
#   ROUNDS=3          rounds; each runs hit, forwarding and latency for every
#                     server, the servers' order moving on by one each round
#   CLIENTS=8 OUTSTANDING=200   dnsperf -c and -q
#   TIMEOUT=5         dnsperf -t (its default): an answer later than this is lost
#   PEERS="dnsdist"   peers next to nxray: any of dnsdist unbound coredns
#   NXRAY_BIN         use this nxray binary instead of building ./cmd/nxray
#   COREDNS_BIN       (default $HOME/go/bin/coredns; `go install`ed at
#                     COREDNS_VERSION=v1.15.0 if missing)
#   FWD_NAMES_PER_SEC=150000   unique names per second of a forwarding run;
#                     a run that sends more than its file holds is flagged
#   CACHE_SIZE=10000  nxray --cache-size, dnsdist newPacketCache, CoreDNS
#                     cache success capacity
#   SERVER_CPU=0 LOAD_CPU=1
#   KNOT_PORT=15410 NXRAY_PORT=15411 DNSDIST_PORT=15412 UNBOUND_PORT=15413
#   COREDNS_PORT=15414   base ports; the next free one is taken if one is busy
#   PROFILE=1         also take a CPU profile (perf record, PROFILE_SECS=10 s
#                     at PROFILE_FREQ=999 Hz) of each of PROFILE_SERVERS
#                     (default nxray) during one extra cache-hit run and one
#                     extra forwarding run after the rounds; those runs are
#                     not counted. nxray has no pprof endpoint; perf needs no
#                     change to it (Go keeps frame pointers, so -g works).
set -euo pipefail

DURATION=${DURATION:-10}
LAT_DURATION=${LAT_DURATION:-10}
LAT_QPS=${LAT_QPS:-5000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
TIMEOUT=${TIMEOUT:-5}
PEERS=${PEERS:-dnsdist}
FWD_NAMES_PER_SEC=${FWD_NAMES_PER_SEC:-150000}
CACHE_SIZE=${CACHE_SIZE:-10000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
COREDNS_BIN=${COREDNS_BIN:-$HOME/go/bin/coredns}
PROFILE=${PROFILE:-0}
PROFILE_SECS=${PROFILE_SECS:-10}
PROFILE_FREQ=${PROFILE_FREQ:-999}
PROFILE_SERVERS=${PROFILE_SERVERS:-nxray}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/nxray-rig.XXXXXX)
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin
PATH=$PATH:/usr/sbin:/sbin # knotd, unbound
START=$(date +%s)

log() { printf '[rig] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; } # LIST WORD
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for v in DURATION LAT_DURATION LAT_QPS ROUNDS CLIENTS OUTSTANDING TIMEOUT FWD_NAMES_PER_SEC CACHE_SIZE PROFILE_SECS PROFILE_FREQ; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || [ "${!v}" -eq 0 ]; then die "$v=${!v}: want a whole number above 0"; fi
done
for p in $PEERS; do
	case $p in dnsdist | unbound | coredns) ;; *) die "PEERS: unknown peer $p (dnsdist, unbound, coredns)" ;; esac
done

# ---------------------------------------------------------------- cleanup
PIDS=()
cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	rm -f "$WORK/report" "$WORK"/q-u-*.txt # built report, big query files
	# the nxray binary stays when perf profiles need its symbols
	[ "$PROFILE" = 1 ] || rm -f "$WORK/nxray"
	log "work dir (raw dnsperf outputs, logs, results.tsv): $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------- prerequisites
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU)"
[ "$SERVER_CPU" != "$LOAD_CPU" ] || die "SERVER_CPU and LOAD_CPU are both $SERVER_CPU"
command -v taskset >/dev/null || die "taskset (util-linux) missing"
command -v go >/dev/null || die "go not found in PATH"

command -v dnsperf >/dev/null || apt_install dnsperf
command -v knotd >/dev/null || apt_install knot
if has "$PEERS" dnsdist; then command -v dnsdist >/dev/null || apt_install dnsdist; fi
if has "$PEERS" unbound; then command -v unbound >/dev/null || apt_install unbound; fi
if has "$PEERS" coredns; then
	want_cd="CoreDNS-${COREDNS_VERSION#v}"
	if [ ! -x "$COREDNS_BIN" ]; then
		log "installing CoreDNS $COREDNS_VERSION with go install (first time takes a few minutes)"
		mkdir -p "$(dirname "$COREDNS_BIN")"
		(cd "$WORK" && GOBIN="$(dirname "$COREDNS_BIN")" go install "github.com/coredns/coredns@$COREDNS_VERSION")
		[ "$(basename "$COREDNS_BIN")" = coredns ] || mv "$(dirname "$COREDNS_BIN")/coredns" "$COREDNS_BIN"
	fi
	cd_ver=$("$COREDNS_BIN" -version 2>/dev/null | awk 'NR == 1')
	[ "$cd_ver" = "$want_cd" ] || log "note: $COREDNS_BIN is $cd_ver, not $want_cd"
fi
PERF_OK=0
if [ "$PROFILE" = 1 ]; then
	if command -v perf >/dev/null && perf record -q -o /dev/null -- true >/dev/null 2>&1; then
		PERF_OK=1
	else
		log "WARNING: PROFILE=1 but perf is missing or may not sample here (kernel.perf_event_paranoid?); no profiles"
	fi
fi

log "building the report (bench/report)"
(cd "$REPO" && nice -n 10 go build -o "$WORK/report" ./bench/report) || die "building bench/report failed"
REPORT=$WORK/report

if [ -n "${NXRAY_BIN:-}" ]; then
	NXRAY=$NXRAY_BIN
	[ -x "$NXRAY" ] || die "NXRAY_BIN=$NXRAY_BIN is not an executable"
else
	log "building nxray (go build ./cmd/nxray)"
	(cd "$REPO" && go build -o "$WORK/nxray" ./cmd/nxray) || die "building nxray failed (NXRAY_BIN= names a built binary)"
	NXRAY=$WORK/nxray
fi
NXRAY_GIT=$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "no commit")
[ -z "${NXRAY_BIN:-}" ] || NXRAY_GIT="$NXRAY_BIN ($("$NXRAY_BIN" version 2>/dev/null | head -1); the checkout is $NXRAY_GIT)"

ver_of() { # PACKAGE: the installed Debian version, else "?"
	dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "?"
}
VERSIONS="knotd $(knotd -V 2>/dev/null | awk '{print $NF; exit}') (Debian $(ver_of knot)); dnsperf $(dnsperf -h 2>&1 | awk '/^Version / {print $2; exit}')"
has "$PEERS" dnsdist && VERSIONS="$VERSIONS; dnsdist $(dnsdist --version 2>/dev/null | awk 'NR == 1 {print $2}') (Debian $(ver_of dnsdist))"
has "$PEERS" unbound && VERSIONS="$VERSIONS; unbound $(unbound -V 2>/dev/null | awk '/^Version/ {print $2; exit}') (Debian $(ver_of unbound))"
has "$PEERS" coredns && VERSIONS="$VERSIONS; $("$COREDNS_BIN" -version 2>/dev/null | awk 'NR == 1')"

# ------------------------------------------------------------------ ports
CHOSEN=()
free_port() { # BASE
	local p=$1
	for _ in $(seq 1 50); do
		if ! port_busy "$p" && [[ " ${CHOSEN[*]} " != *" $p "* ]]; then echo "$p"; return 0; fi
		p=$((p + 1))
	done
	die "no free port near $1"
}
# (free_port runs in a subshell via $(...): record each choice in CHOSEN here)
KNOT_PORT=$(free_port "${KNOT_PORT:-15410}"); CHOSEN+=("$KNOT_PORT")
NX_PORT=$(free_port "${NXRAY_PORT:-15411}"); CHOSEN+=("$NX_PORT")
DD_PORT=$(free_port "${DNSDIST_PORT:-15412}"); CHOSEN+=("$DD_PORT")
UB_PORT=$(free_port "${UNBOUND_PORT:-15413}"); CHOSEN+=("$UB_PORT")
CD_PORT=$(free_port "${COREDNS_PORT:-15414}"); CHOSEN+=("$CD_PORT")

# ------------------------------------------------------------- test data
# rig.test.: SOA, NS, h0..h999 and a wildcard, all A records in 127.0.0.0/8
mkdir -p "$WORK/knot"
ZONE=$WORK/knot/rig.test.zone
{
	cat <<'EOF'
$ORIGIN rig.test.
$TTL 3600
@ SOA ns.rig.test. admin.rig.test. 1 7200 3600 1209600 3600
@ NS ns.rig.test.
ns A 127.0.0.1
EOF
	awk 'BEGIN { for (i = 0; i < 1000; i++) printf "h%d A 127.1.%d.%d\n", i, int(i/256), i%256 }'
	printf '* A 127.0.0.2\n'
} >"$ZONE"
# the guarantee that no answer leads anywhere but loopback
awk '$2 == "A" && $3 !~ /^127\.[0-9]+\.[0-9]+\.[0-9]+$/ {bad = 1; print "not loopback: " $0 > "/dev/stderr"}
	$2 == "AAAA" {bad = 1} END {exit bad}' "$ZONE" || die "zone file has an address outside 127.0.0.0/8"

cat >"$WORK/knot/knot.conf" <<EOF
# knotd for bench/rig.sh: its own instance, 127.0.0.1 only
server:
    rundir: "$WORK/knot"
    listen: 127.0.0.1@$KNOT_PORT
log:
  - target: stderr
    any: warning
database:
    storage: "$WORK/knot"
control:
    listen: "$WORK/knot/knot.sock"
template:
  - id: default
    storage: "$WORK/knot"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: rig.test.
EOF

awk 'BEGIN { for (i = 0; i < 1000; i++) printf "h%d.rig.test A\n", i }' >"$WORK/q-hit.txt"
echo "h0.rig.test A" >"$WORK/q-probe.txt"
# unique_names FILE PREFIX N: N names PREFIX-0..PREFIX-(N-1).rig.test, all
# answered by the wildcard. Each (round, server, run) has its own PREFIX, so
# no name is asked twice in the whole run.
unique_names() {
	awk -v p="$2" -v n="$3" 'BEGIN { for (i = 0; i < n; i++) printf "%s-%d.rig.test A\n", p, i }' >"$1"
}
FWD_NAMES=$((DURATION * FWD_NAMES_PER_SEC))
LAT_NAMES=$((LAT_DURATION * LAT_QPS * 12 / 10 + 1000)) # 20% to spare

# ------------------------------------------------------------ processes
# start_server NAME CPU CMD... ; sets STARTED_PID
start_server() {
	local name=$1 cpu=$2; shift 2
	taskset -c "$cpu" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
}
probe() { # PORT: one query; succeeds if answered
	local out
	out=$(dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/q-probe.txt" -n 1 -t 1 2>/dev/null || true)
	[[ $out =~ Queries\ completed:\ +1\  ]]
}
cpu_secs() { "$REPORT" cpusecs "$1"; } # utime + stime of all threads, s
udp_drops() { # the machine's UDP receive-buffer drops so far (RcvbufErrors, IPv4 + IPv6)
	awk '/^Udp:/ && !h {for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next}
		/^Udp:/ {n += $c["RcvbufErrors"]} /^Udp6RcvbufErrors/ {n += $2} END {print n + 0}' /proc/net/snmp /proc/net/snmp6 2>/dev/null
}
# pid_drops PID: drops counted so far at the UDP sockets PID holds (its
# listener and, for a forwarder, its sockets towards knotd): /proc/net/udp's
# last column, of the rows whose inode is one of PID's open sockets
pid_drops() {
	local inodes
	inodes=$(find /proc/"$1"/fd -type l -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | tr '\n' ' ')
	awk -v s=" $inodes " 'FNR > 1 && index(s, " " $10 " ") {n += $NF} END {print n + 0}' /proc/net/udp /proc/net/udp6
}
# pin_all PID CPU NAME: every thread of PID onto CPU. knotd pins each UDP
# worker to CPU (worker number mod online CPUs) itself, whatever taskset
# said: on two CPUs one of its workers would run beside the server under
# test. Its workers start with the server and keep that affinity, so the
# threads are moved back once it answers.
pin_all() {
	taskset -a -p -c "$2" "$1" >/dev/null || die "cannot pin $3 (pid $1) to CPU $2"
	affinity_check "$@"
}
# affinity_check PID CPU NAME: dies unless every thread of PID may run on CPU only
affinity_check() {
	local t bad=""
	for t in /proc/"$1"/task/*; do
		[ "$(awk '/^Cpus_allowed_list:/ {print $2}' "$t/status" 2>/dev/null || echo "$2")" = "$2" ] ||
			bad="$bad $(cat "$t/comm" 2>/dev/null)[$(awk '/^Cpus_allowed_list:/ {print $2}' "$t/status" 2>/dev/null)]"
	done
	[ -z "$bad" ] || die "$3 (pid $1) has threads off CPU $2:$bad"
}
# check_answers PORT NAME: an h name and a wildcard name resolve to loopback
check_answers() {
	local tool a
	tool=$(command -v dig || command -v kdig || true)
	[ -n "$tool" ] || return 0
	for q in h999.rig.test "check-$2.rig.test"; do
		a=$("$tool" +short +time=2 +tries=1 -p "$1" @127.0.0.1 "$q" A 2>/dev/null || true)
		[[ $a =~ ^127\.[0-9.]+$ ]] || die "$2 answered $q with '$a', not one loopback address"
	done
}

# nxray's failure diagnosis may ask other resolvers (--alternate defaults to
# public ones) or walk from the root servers: point all of it at knot and
# turn annotation off, so that nothing leaves 127.0.0.1. (No failure is
# expected here; this only makes sure.) NXRAY_* variables would configure
# nxray too: it gets an environment without them.
NX_LOCAL=()
nx_help=$("$NXRAY" serve --help 2>&1 || true)
for kv in "--alternate=127.0.0.1:$KNOT_PORT" "--root-hints=127.0.0.1" "--auth-port=$KNOT_PORT" "--annotate=off"; do
	if grep -q -- "${kv%%=*} " <<<"$nx_help"; then NX_LOCAL+=("$kv"); else log "WARNING: this nxray has no ${kv%%=*} flag"; fi
done
NX_UNSET=()
while IFS='=' read -r k _; do
	[[ $k == NXRAY_* ]] && NX_UNSET+=(-u "$k")
done < <(env)

write_configs() {
	cat >"$WORK/dnsdist.conf" <<EOF
setSecurityPollSuffix('')  -- no security-status queries to the Internet
setLocal('127.0.0.1:$DD_PORT')
-- health check with a name knot answers
newServer({address='127.0.0.1:$KNOT_PORT', checkName='h0.rig.test.', checkInterval=1})
pc = newPacketCache($CACHE_SIZE)
getPool(''):setCache(pc)
EOF
	cat >"$WORK/unbound.conf" <<EOF
server:
    interface: 127.0.0.1
    port: $UB_PORT
    do-ip6: no
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    # test. is one of Unbound's default local zones (RFC 6761)
    local-zone: "test." nodefault
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$KNOT_PORT
EOF
	cat >"$WORK/Corefile" <<EOF
.:$CD_PORT {
    bind 127.0.0.1
    forward . 127.0.0.1:$KNOT_PORT
    cache {
        success $CACHE_SIZE
    }
}
EOF
}

# start_sut NAME: starts a server under test on SERVER_CPU; sets STARTED_PID
# and STARTED_PORT
start_sut() {
	case $1 in
	nxray)
		start_server nxray "$SERVER_CPU" env "${NX_UNSET[@]}" "$NXRAY" serve --listen "127.0.0.1:$NX_PORT" \
			--upstream "127.0.0.1:$KNOT_PORT" --cache-size "$CACHE_SIZE" --http "" --log-level warn "${NX_LOCAL[@]}"
		STARTED_PORT=$NX_PORT
		;;
	dnsdist)
		start_server dnsdist "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$WORK/dnsdist.conf"
		STARTED_PORT=$DD_PORT
		;;
	unbound)
		start_server unbound "$SERVER_CPU" unbound -d -c "$WORK/unbound.conf"
		STARTED_PORT=$UB_PORT
		;;
	coredns)
		start_server coredns "$SERVER_CPU" "$COREDNS_BIN" -conf "$WORK/Corefile" -quiet
		STARTED_PORT=$CD_PORT
		;;
	esac
	wait_ready "$STARTED_PORT" "$STARTED_PID" "$1"
}

# ------------------------------------------------------------ measuring
# results.tsv, one line a run (report rig reads it):
#   row SERVER   (the table's rows, in order)
#   run KIND SERVER ROUND qps sent completed lost avg_ms p50_ms p99_ms names server_cpu knot_cpu dnsperf_cpu udp_drops server_sock_drops knot_sock_drops
#   rss SERVER vmhwm_mib
# (udp_drops: the machine's UDP receive-buffer drops during the run; the
# others: drops at the UDP sockets the server and knotd hold, those open at
# the start and the end of the run. The rest were dropped at dnsperf's
# sockets, or at short-lived sockets of a server.)
RES=$WORK/results.tsv
: >"$RES"

# measure KIND SERVER ROUND PORT PID QFILE NAMES DNSPERF_ARGS...: one dnsperf
# run on LOAD_CPU, with the CPU time of the server (PID, "-" for none), of
# knotd and of dnsperf itself over the run
measure() {
	local kind=$1 sv=$2 round=$3 port=$4 pid=$5 qfile=$6 names=$7; shift 7
	local out=$WORK/$kind-$sv-$round.txt s0 s1 k0 k1 t0 t1 d0 d1 sd0 sd1 kd0 kd1 sdrops=- scpu="-" kcpu gcpu r TIMEFORMAT='%R %U %S'
	[ "$pid" = - ] || s0=$(cpu_secs "$pid")
	[ "$pid" = - ] || sd0=$(pid_drops "$pid")
	kd0=$(pid_drops "$KNOT_PID")
	d0=$(udp_drops); k0=$(cpu_secs "$KNOT_PID"); t0=$(date +%s.%N)
	# bash's `time` gives dnsperf's own CPU (taskset execs it)
	{ time taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" \
		-c "$CLIENTS" -q "$OUTSTANDING" -t "$TIMEOUT" "$@" >"$out" 2>&1 </dev/null || true; } 2>"$out.time"
	t1=$(date +%s.%N); k1=$(cpu_secs "$KNOT_PID"); d1=$(udp_drops)
	[ "$pid" = - ] || { sd1=$(pid_drops "$pid"); sdrops=$((sd1 - sd0)); }
	kd1=$(pid_drops "$KNOT_PID")
	[ "$pid" = - ] || { s1=$(cpu_secs "$pid"); scpu=$("$REPORT" share "$s0" "$s1" "$t0" "$t1"); }
	kcpu=$("$REPORT" share "$k0" "$k1" "$t0" "$t1")
	gcpu=$("$REPORT" gencpu "$out.time")
	if [ "$kind" = lat ]; then
		r=$("$REPORT" lat "$out") # qps sent completed lost avg_ms p50_ms p99_ms
	else
		r="$("$REPORT" dnsperf "$out") - -"
	fi
	[ -n "$(awk '{print $2}' <<<"$r")" ] || { cat "$out" >&2; die "dnsperf gave no figures ($out)"; }
	printf 'run %s %s %s %s %s %s %s %s %s %s %s\n' "$kind" "$sv" "$round" "$r" "$names" "$scpu" "$kcpu" "$gcpu" \
		$((d1 - d0)) "$sdrops" $((kd1 - kd0)) >>"$RES"
	local f; read -ra f <<<"$r"
	log "$(printf '%-5s %-8s round %s: %7s qps, sent %s, lost %s (UDP drops %s: %s at the server, %s at knotd), avg %s ms, p99 %s ms; CPU %% server %s knot %s dnsperf %s' \
		"$kind" "$sv" "$round" "${f[0]}" "${f[1]}" "${f[3]}" $((d1 - d0)) "$sdrops" $((kd1 - kd0)) "${f[4]}" "${f[6]}" "$scpu" "$kcpu" "$gcpu")"
	if [ "$names" != - ] && [ "${f[1]}" -gt "$names" ]; then
		log "WARNING: $kind $sv round $round sent ${f[1]} queries but had $names unique names: dnsperf started over"
	fi
}

warmup() { # PORT: every hit name twice, then a 1-s burst
	taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/q-hit.txt" -n 2 -c 1 -q 10 -t 2 >/dev/null 2>&1 || true
	taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/q-hit.txt" -l 1 -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >/dev/null 2>&1 || true
}

# one_run KIND SERVER ROUND: KIND hit, fwd or lat, with fresh names
one_run() {
	local kind=$1 sv=$2 round=$3 port pid q
	port=${PORT_OF[$sv]} pid=${PID_OF[$sv]}
	case $kind in
	hit)
		# forwarding runs fill the cache with other names: warm up every time
		[ "$sv" = direct ] || warmup "$port"
		measure hit "$sv" "$round" "$port" "$pid" "$WORK/q-hit.txt" - -l "$DURATION"
		;;
	fwd)
		q=$WORK/q-u-fwd-$round-$sv.txt
		unique_names "$q" "f$round-$sv" "$FWD_NAMES"
		measure fwd "$sv" "$round" "$port" "$pid" "$q" "$FWD_NAMES" -l "$DURATION"
		rm -f "$q"
		;;
	lat)
		q=$WORK/q-u-lat-$round-$sv.txt
		unique_names "$q" "l$round-$sv" "$LAT_NAMES"
		measure lat "$sv" "$round" "$port" "$pid" "$q" "$LAT_NAMES" -l "$LAT_DURATION" -Q "$LAT_QPS" -v
		rm -f "$q"
		;;
	esac
}

# ---------------------------------------------------------------- run
busy_before=$(cpu_busy_pct)
[ "$busy_before" -le 10 ] || log "WARNING: machine ${busy_before}% busy before the start; results will be noisy"
log "work dir $WORK; ports: knot $KNOT_PORT, nxray $NX_PORT, dnsdist $DD_PORT, unbound $UB_PORT, coredns $CD_PORT"
log "$VERSIONS; nxray $NXRAY_GIT"

start_server knot "$LOAD_CPU" knotd -c "$WORK/knot/knot.conf"
KNOT_PID=$STARTED_PID
wait_ready "$KNOT_PORT" "$KNOT_PID" knot
pin_all "$KNOT_PID" "$LOAD_CPU" knotd
check_answers "$KNOT_PORT" knot

write_configs
declare -A PORT_OF PID_OF
SERVERS=(direct nxray)
for p in $PEERS; do SERVERS+=("$p"); done
# rows: direct first, then the peers, then nxray
read -ra ROWS <<<"direct $PEERS nxray"
PORT_OF[direct]=$KNOT_PORT PID_OF[direct]=-
for sv in "${SERVERS[@]}"; do
	[ "$sv" = direct ] && continue
	start_sut "$sv"
	PORT_OF[$sv]=$STARTED_PORT PID_OF[$sv]=$STARTED_PID
	pin_all "$STARTED_PID" "$SERVER_CPU" "$sv"
	check_answers "$STARTED_PORT" "$sv"
done
# results.tsv's first lines fix the order of the table's rows
for sv in "${ROWS[@]}"; do echo "row $sv" >>"$RES"; done

n=${#ROWS[@]}
for round in $(seq 1 "$ROUNDS"); do
	order=()
	for i in $(seq 0 $((n - 1))); do order+=("${ROWS[$(((i + round - 1) % n))]}"); done
	log "round $round of $ROUNDS: ${order[*]}"
	for kind in hit fwd lat; do
		for sv in "${order[@]}"; do one_run "$kind" "$sv" "$round"; done
	done
done

affinity_check "$KNOT_PID" "$LOAD_CPU" knotd
for sv in "${ROWS[@]}"; do
	[ "$sv" = direct ] && continue
	echo "rss $sv $("$REPORT" hwm "${PID_OF[$sv]}")" >>"$RES"
	offbox_check "${PID_OF[$sv]}" "$sv"
	affinity_check "${PID_OF[$sv]}" "$SERVER_CPU" "$sv"
done

# --- profiles (PROFILE=1): extra runs, not counted ---------------------------
if [ "$PERF_OK" = 1 ]; then
	for sv in $PROFILE_SERVERS; do
		if [ -z "${PID_OF[$sv]:-}" ] || [ "$sv" = direct ]; then log "PROFILE: no server $sv"; continue; fi
		for kind in hit fwd; do
			q=$WORK/q-hit.txt names=-
			if [ "$kind" = fwd ]; then
				q=$WORK/q-u-prof-$sv.txt names=$(((PROFILE_SECS + 2) * FWD_NAMES_PER_SEC))
				unique_names "$q" "p-$sv" "$names"
			else
				warmup "${PORT_OF[$sv]}"
			fi
			data=$WORK/profile-$sv-$kind.data
			log "PROFILE: $sv, $kind run with perf record -F $PROFILE_FREQ -g for $PROFILE_SECS s"
			(sleep 1; taskset -c "$LOAD_CPU" perf record -q -F "$PROFILE_FREQ" -g -p "${PID_OF[$sv]}" -o "$data" \
				-- sleep "$PROFILE_SECS" >"$WORK/profile-$sv-$kind.log" 2>&1) &
			pp=$!; PIDS+=("$pp")
			measure "prof-$kind" "$sv" 0 "${PORT_OF[$sv]}" "${PID_OF[$sv]}" "$q" "$names" -l $((PROFILE_SECS + 2))
			wait "$pp" || log "WARNING: perf record failed (see $WORK/profile-$sv-$kind.log)"
			[ "$kind" = hit ] || rm -f "$q"
			perf report -i "$data" --stdio --no-children --percent-limit 0.5 2>/dev/null >"$WORK/profile-$sv-$kind.txt" || true
			log "PROFILE: $data; top of $WORK/profile-$sv-$kind.txt:"
			grep -E '^ +[0-9.]+%' "$WORK/profile-$sv-$kind.txt" | head -8 >&2 || true
		done
	done
fi

for sv in "${ROWS[@]}"; do
	[ "$sv" = direct ] && continue
	lf=$WORK/$sv.log
	[ -s "$lf" ] || continue
	log "$sv.log is not empty ($(wc -l <"$lf") lines); first lines:"
	head -5 "$lf" >&2
done
[ ! -s "$WORK/knot.log" ] || { log "knot.log:"; head -5 "$WORK/knot.log" >&2; }

# ---------------------------------------------------------------- report
TABLE=$WORK/results.md
"$REPORT" rig -lat-qps "$LAT_QPS" "$RES" >"$TABLE"
elapsed=$(($(date +%s) - START))
{
	echo
	echo "## nxray: reviewer-shaped rig (bench/rig.sh)"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); busy before the start: ${busy_before}%; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- nxray $NXRAY_GIT; $VERSIONS; $(go version | awk '{print $3}')"
	echo "- servers under test on CPU $SERVER_CPU (taskset), each alone; dnsperf and knotd on CPU $LOAD_CPU"
	echo "- upstream: knotd, zone rig.test. (1000 A h0..h999, wildcard A, TTL 3600, all in 127.0.0.0/8); caches: nxray --cache-size $CACHE_SIZE, dnsdist newPacketCache($CACHE_SIZE)$(has "$PEERS" coredns && echo ", CoreDNS cache success $CACHE_SIZE")$(has "$PEERS" unbound && echo ", Unbound its default caches")"
	echo "- throughput: dnsperf -c $CLIENTS -q $OUTSTANDING -t $TIMEOUT -l $DURATION; hits over h0..h999 after a warm-up; forwarding over $FWD_NAMES unique names a run"
	echo "- latency: dnsperf -c $CLIENTS -q $OUTSTANDING -t $TIMEOUT -l $LAT_DURATION -Q $LAT_QPS -v over $LAT_NAMES unique names a run (p99 of the per-query latencies)"
	echo "- medians of $ROUNDS rounds, interleaved; queries lost summed over every hit, forwarding and latency run; RSS: VmHWM after the rounds; took ${elapsed} s"
	echo
	cat "$TABLE"
}
