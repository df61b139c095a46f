#!/usr/bin/env bash
# Encrypted forwarding benchmark: nxray and AdGuard dnsproxy each forwarding
# every query over DoT, then over DoH, to a local Knot Resolver (kresd) that
# answers bench.test. itself, measured with dnsperf (plain UDP from dnsperf to
# the forwarder; TLS from the forwarder to kresd).
#
#   bash bench/tls.sh
#
# Everything runs inside a fresh network namespace (unshare -n) whose only
# interface is loopback, so nothing can leave the machine; the binaries are
# built and packages installed before entering it. kresd gets a private CA
# and a leaf certificate (made by openssl in $WORK) for 127.0.0.1 and
# upstream.bench.test; the forwarders trust that CA (nxray --tls-ca-file,
# dnsproxy SSL_CERT_FILE) and verify it. kresd answers any NAME.bench.test. A
# itself (policy.ANSWER), refuses everything else and never recurses.
# Forwarder on CPU 0, dnsperf and kresd on CPU 1. Raw output stays in $WORK;
# bench/report prints the tables (`report tls $WORK/results.tsv`).
#
# For each protocol (PROTOS) the forwarders are started fresh with their
# caches off; then, interleaved over the rows (ROWS; "direct" is dnsperf
# speaking DoT or DoH to kresd itself, the baseline):
#   tput  REPS saturation runs: dnsperf -c CLIENTS -q OUTSTANDING, no rate limit
#   lat   one run at LAT_QPS with -v: p50 / p99 of NOERROR answers
#   deep  one saturation run with -q DEEP_OUTSTANDING: whether answers fail
#         (SERVFAIL) or go missing when many queries are in flight
# For every run: QPS, queries lost, response codes, TCP connections opened
# in the namespace during the run (/proc/net/snmp ActiveOpens: only the
# forwarder, or dnsperf for the direct row, opens any), CPU of the forwarder
# and of kresd; per forwarder its peak RSS (VmHWM).
#
# Knobs (environment):
#   DURATION=10 REPS=3 CLIENTS=8 OUTSTANDING=200 DEEP_OUTSTANDING=2000
#   LAT_QPS=2000 LAT_DURATION=10
#   PROTOS="dot doh" ROWS="direct nxray dnsproxy"
#   NAMES=200000     distinct names u0..uN-1.bench.test (dnsperf loops)
#   NXRAY_BIN        nxray binary (default: built from this checkout)
#   NX_EXTRA         extra nxray flags (word-split); the default turns the
#                    history off (--history-path "") when nxray has the flag
#   DNSPROXY_VERSION=v0.78.0 DNSPROXY_BIN=$HOME/go/bin/dnsproxy
#   KRESD_BIN=kresd  (Debian package knot-resolver, apt-get if missing)
#   NETNS=1          0: run on the host's loopback instead (offbox_check warns
#                    about any socket a server holds off loopback)
#   DOT_PORT=15853 DOH_PORT=15443 KRESD_PORT=15453 (plain DNS, readiness and
#   the diagnosis' probes) NXRAY_PORT=15353 DNSPROXY_PORT=15355
#   NX_HTTP_PORT=15380  nxray's HTTP (status, /metrics) on 127.0.0.1: its
#                    /metrics is saved to $WORK/metrics-nxray-PROTO.txt
#                    before it stops, and its upstream counters printed
set -euo pipefail

DURATION=${DURATION:-10}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-200}
DEEP_OUTSTANDING=${DEEP_OUTSTANDING:-2000}
LAT_QPS=${LAT_QPS:-2000}
LAT_DURATION=${LAT_DURATION:-10}
PROTOS=${PROTOS:-dot doh}
ROWS=${ROWS:-direct nxray dnsproxy}
NAMES=${NAMES:-200000}
DNSPROXY_VERSION=${DNSPROXY_VERSION:-v0.78.0}
DNSPROXY_BIN=${DNSPROXY_BIN:-$HOME/go/bin/dnsproxy}
KRESD_BIN=${KRESD_BIN:-kresd}
NETNS=${NETNS:-1}
DOT_PORT=${DOT_PORT:-15853}
DOH_PORT=${DOH_PORT:-15443}
KRESD_PORT=${KRESD_PORT:-15453}
NX_PORT=${NXRAY_PORT:-15353}
DP_PORT=${DNSPROXY_PORT:-15355}
NH_PORT=${NX_HTTP_PORT:-15380}
SERVER_CPU=0
LOAD_CPU=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin
log() { printf '[tls] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; } # LIST WORD

# ------------------------------------------------- outside the namespace
if [ -z "${TLS_INSIDE:-}" ]; then
	WORK=$(mktemp -d /tmp/nxray-tls.XXXXXX)
	# shellcheck source=bench/lib.sh
	. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
	[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, load on CPU 1)"
	for c in taskset openssl go ss; do command -v $c >/dev/null || die "$c missing"; done
	command -v dnsperf >/dev/null || apt_install dnsperf
	command -v "$KRESD_BIN" >/dev/null || apt_install knot-resolver
	if has "$ROWS" dnsproxy; then build_dnsproxy; fi
	log "building the report (bench/report)"
	(cd "$REPO" && go build -o "$WORK/report" ./bench/report) || die "building bench/report failed"
	if [ -n "${NXRAY_BIN:-}" ]; then
		cp "$NXRAY_BIN" "$WORK/nxray"
		NXRAY_GIT="$NXRAY_BIN ($("$NXRAY_BIN" version 2>/dev/null | head -1))"
	elif has "$ROWS" nxray; then
		log "building nxray"
		(cd "$REPO" && go build -o "$WORK/nxray" ./cmd/nxray)
		NXRAY_GIT=$(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo "no commit")
	fi
	export TLS_INSIDE=1 WORK NXRAY_GIT DNSPROXY_BIN
	if [ "$NETNS" = 1 ]; then
		log "entering a network namespace of its own (unshare -n): loopback only"
		exec unshare -n bash "${BASH_SOURCE[0]}"
	fi
	exec bash "${BASH_SOURCE[0]}"
fi

# ------------------------------------------------- inside the namespace
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPORT=$WORK/report
NXRAY=$WORK/nxray
if [ "$NETNS" = 1 ]; then
	ip link set lo up
	# the namespace holds loopback and nothing else
	others=$(ip -o link show | awk -F': ' '$2 != "lo" {print $2}')
	[ -z "$others" ] || die "the namespace has interfaces besides lo: $others"
	ip -o addr show | awk '{print $4}' | grep -qvE '^(127\.|::1/)' && die "an address off loopback in the namespace"
fi

PIDS=()
cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	rm -f "$WORK/nxray" "$WORK/report" "$WORK"/q-*.txt
	log "raw output kept in $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in $DOT_PORT $DOH_PORT $KRESD_PORT $NX_PORT $DP_PORT $NH_PORT; do
	! port_busy "$p" || die "port $p is busy"
done

# ------------------------------------------------------------ certificates
# A private CA and a leaf for IP 127.0.0.1 and upstream.bench.test, EC P-256.
mk_certs() {
	local d=$WORK/pki
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=nxray bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=upstream.bench.test" -keyout "$d/leaf.key" -out "$d/leaf.csr" 2>/dev/null
	printf '%s\n' "subjectAltName=DNS:upstream.bench.test,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
		"keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$d/leaf.ext"
	openssl x509 -req -days 2 -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
	CA=$d/ca.pem
}
mk_certs

# ------------------------------------------------------------------- kresd
mkdir -p "$WORK/kresd"
cat >"$WORK/kresd.conf" <<EOF
-- no time-skew check or root priming: nothing to resolve out there
modules.unload('detect_time_skew')
modules.unload('priming')
trust_anchors.remove('.')
net.tls('$WORK/pki/leaf.pem', '$WORK/pki/leaf.key')
net.listen('127.0.0.1', $KRESD_PORT, { kind = 'dns' })
net.listen('127.0.0.1', $DOT_PORT, { kind = 'tls' })
net.listen('127.0.0.1', $DOH_PORT, { kind = 'doh2' })
cache.size = 10 * MB
-- every NAME.bench.test. A answered here; everything else refused
policy.add(policy.suffix(policy.ANSWER({ [kres.type.A] = { rdata = kres.str2ip('127.0.0.2'), ttl = 300 } }, true),
	{ todname('bench.test.') }))
policy.add(policy.all(policy.REFUSE))
EOF
echo "u0.bench.test A" >"$WORK/q-probe.txt"
probe() { # PORT [MODE]: one query; succeeds if answered
	local out
	out=$(dnsperf -m "${2:-udp}" -s 127.0.0.1 -p "$1" -d "$WORK/q-probe.txt" -n 1 -t 1 2>/dev/null || true)
	[[ $out =~ Queries\ completed:\ +1\  ]]
}
taskset -c $LOAD_CPU "$KRESD_BIN" -n -c "$WORK/kresd.conf" "$WORK/kresd" >"$WORK/kresd.log" 2>&1 </dev/null &
KRESD_PID=$!; PIDS+=("$KRESD_PID")
wait_ready "$KRESD_PORT" "$KRESD_PID" kresd
probe "$DOT_PORT" dot || die "kresd does not answer DoT on $DOT_PORT"
probe "$DOH_PORT" doh || die "kresd does not answer DoH on $DOH_PORT"
KRESD_VER=$("$KRESD_BIN" --version 2>/dev/null | awk '{print $NF; exit}')
DNSPERF_VER=$(dnsperf -h 2>&1 | awk '/^Version / && !v {v = $2} END {print v}')

awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "u%d.bench.test A\n", i }' >"$WORK/q-names.txt"

# ----------------------------------------------------------- forwarders
NX_LOCAL=() NX_X=()
if has "$ROWS" nxray; then
	nx_help=$("$NXRAY" serve --help 2>&1 || true)
	for kv in "--alternate=127.0.0.1:$KRESD_PORT" "--root-hints=127.0.0.1" "--auth-port=$KRESD_PORT" "--annotate=off"; do
		if grep -q -- "${kv%%=*} " <<<"$nx_help"; then NX_LOCAL+=("$kv"); fi
	done
	grep -q -- "--tls-ca-file " <<<"$nx_help" || die "this nxray has no --tls-ca-file (build one with DoT/DoH)"
	if [ -n "${NX_EXTRA+set}" ]; then
		read -ra NX_X <<<"$NX_EXTRA"
	elif grep -q -- "--history-path " <<<"$nx_help"; then
		NX_X=(--history-path "")
	fi
fi
upstream_url() { # PROTO [nxray]
	case $1 in
	dot) printf 'tls://127.0.0.1:%s' "$DOT_PORT" ;;
	doh) printf 'https://127.0.0.1:%s/dns-query' "$DOH_PORT" ;;
	esac
	# nxray's form names the certificate's name; dnsproxy checks the IP SAN
	[ "${2:-}" != nxray ] || printf '#upstream.bench.test'
}
start_fwd() { # NAME PROTO; sets STARTED_PID STARTED_PORT
	local name=$1 proto=$2 port
	case $name in
	nxray)
		port=$NX_PORT
		taskset -c $SERVER_CPU env -u NXRAY_CACHE_SIZE "$NXRAY" serve --listen "127.0.0.1:$port" \
			--upstream "$(upstream_url "$proto" nxray)" --tls-ca-file "$CA" --cache-size 0 --http "127.0.0.1:$NH_PORT" \
			--log-level warn "${NX_LOCAL[@]}" "${NX_X[@]}" >"$WORK/nxray-$proto.log" 2>&1 </dev/null &
		;;
	dnsproxy)
		port=$DP_PORT
		taskset -c $SERVER_CPU env SSL_CERT_FILE="$CA" "$DNSPROXY_BIN" -l 127.0.0.1 -p "$port" \
			-u "$(upstream_url "$proto")" --timeout 2s >"$WORK/dnsproxy-$proto.log" 2>&1 </dev/null &
		;;
	*) die "unknown forwarder $name" ;;
	esac
	STARTED_PID=$!; STARTED_PORT=$port; PIDS+=("$STARTED_PID")
	wait_ready "$port" "$STARTED_PID" "$name-$proto"
}

# ------------------------------------------------------------- measuring
RES=$WORK/results.tsv
: >"$RES"
active_opens() { awk '/^Tcp:/ {if (!h) {for (i = 1; i <= NF; i++) if ($i == "ActiveOpens") c = i; h = 1} else print $c}' /proc/net/snmp; }

# measure KIND PROTO ROW PORT PID REP: one dnsperf run, one results line:
#   run KIND PROTO ROW REP qps sent completed lost avg_ms p50_ms p99_ms rcodes opens srv_cpu kresd_cpu
measure() {
	local kind=$1 proto=$2 row=$3 port=$4 pid=$5 rep=$6
	local out=$WORK/$kind-$proto-$row-$rep.txt mode=udp args=() o0 o1 s0 s1 k0 k1 t0 t1 r rc srv
	[ "$row" = direct ] && mode=$proto
	case $kind in
	tput) args=(-l "$DURATION" -q "$OUTSTANDING") ;;
	lat) args=(-l "$LAT_DURATION" -q "$OUTSTANDING" -Q "$LAT_QPS" -v) ;;
	deep) args=(-l "$DURATION" -q "$DEEP_OUTSTANDING") ;;
	esac
	o0=$(active_opens); s0=$("$REPORT" cpusecs "$pid"); k0=$("$REPORT" cpusecs "$KRESD_PID"); t0=$(date +%s.%N)
	taskset -c $LOAD_CPU dnsperf -m "$mode" -s 127.0.0.1 -p "$port" -d "$WORK/q-names.txt" -c "$CLIENTS" \
		-t 2 "${args[@]}" >"$out" 2>&1 </dev/null || true
	o1=$(active_opens); s1=$("$REPORT" cpusecs "$pid"); k1=$("$REPORT" cpusecs "$KRESD_PID"); t1=$(date +%s.%N)
	r=$("$REPORT" lat "$out")
	rc=$("$REPORT" rcodes "$out"); [ -n "$rc" ] || rc=-
	srv=-; [ "$row" = direct ] || srv=$("$REPORT" share "$s0" "$s1" "$t0" "$t1")
	printf 'run %s %s %s %s %s %s %s %s %s\n' "$kind" "$proto" "$row" "$rep" "$r" "$rc" "$((o1 - o0))" \
		"$srv" "$("$REPORT" share "$k0" "$k1" "$t0" "$t1")" >>"$RES"
	log "$(printf '%-4s %-3s %-8s %s: qps sent completed lost avg p50 p99: %s; %s; %s TCP opens' "$kind" "$proto" "$row" "$rep" "$r" "$rc" "$((o1 - o0))")"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "info start $(date -u +%FT%TZ) load $(load)" >>"$RES"
log "work dir $WORK; kresd $KRESD_VER (DoT $DOT_PORT, DoH $DOH_PORT); dnsperf $DNSPERF_VER; nxray ${NXRAY_GIT:--}; load $(load)"
for proto in $PROTOS; do
	rows=()
	for row in $ROWS; do
		case $row in
		direct) rows+=("direct:$([ "$proto" = dot ] && echo "$DOT_PORT" || echo "$DOH_PORT"):$KRESD_PID") ;;
		*)
			start_fwd "$row" "$proto"
			# a short warm-up: connections open, the first handshakes done
			taskset -c $LOAD_CPU dnsperf -s 127.0.0.1 -p "$STARTED_PORT" -d "$WORK/q-names.txt" -l 2 \
				-c "$CLIENTS" -t 2 >/dev/null 2>&1 || true
			rows+=("$row:$STARTED_PORT:$STARTED_PID")
			;;
		esac
	done
	for rep in $(seq 1 "$REPS"); do
		for r in "${rows[@]}"; do IFS=: read -r row port pid <<<"$r"; measure tput "$proto" "$row" "$port" "$pid" "$rep"; done
	done
	for kind in lat deep; do
		for r in "${rows[@]}"; do IFS=: read -r row port pid <<<"$r"; measure "$kind" "$proto" "$row" "$port" "$pid" 1; done
	done
	for r in "${rows[@]}"; do
		IFS=: read -r row _ pid <<<"$r"
		[ "$row" = direct ] && continue
		echo "rss $proto $row $("$REPORT" hwm "$pid")" >>"$RES"
		echo "conns $proto $row $(ss -Htnp state established "( dport = :$DOT_PORT or dport = :$DOH_PORT )" 2>/dev/null |
			grep -c "pid=$pid," || true)" >>"$RES"
		offbox_check "$pid" "$row"
		if [ "$row" = nxray ]; then
			curl -s -m 5 "http://127.0.0.1:$NH_PORT/metrics" >"$WORK/metrics-nxray-$proto.txt" || log "no /metrics from nxray"
			log "nxray $proto: $(grep -E '^nxray_upstream_(mismatched|failures|responses)_total' "$WORK/metrics-nxray-$proto.txt" | tr '\n' ' ')"
		fi
		stop_pid "$pid"
	done
	echo "info after-$proto $(date -u +%FT%TZ) load $(load)" >>"$RES"
done
echo "rss kresd kresd $("$REPORT" hwm "$KRESD_PID")" >>"$RES"

{
	echo
	echo "## DoT / DoH forwarding"
	echo
	echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r); load average: $(grep '^info' "$RES" | awk '{printf "%s%s %s %s %s", (NR > 1 ? "; " : ""), $2, $5, $6, $7}')"
	echo "- nxray ${NXRAY_GIT:--} (${NX_X[*]:-no extra flags}); dnsproxy $("$DNSPROXY_BIN" --version 2>/dev/null | awk '{print $NF}'); kresd $KRESD_VER; dnsperf $DNSPERF_VER"
	echo "- forwarder on CPU $SERVER_CPU, dnsperf and kresd on CPU $LOAD_CPU; $([ "$NETNS" = 1 ] && echo "in a network namespace with loopback only" || echo "host loopback")"
	echo "- saturation: dnsperf -c $CLIENTS -q $OUTSTANDING -l $DURATION, $REPS reps interleaved; latency: -Q $LAT_QPS -l $LAT_DURATION -v; deep: -q $DEEP_OUTSTANDING -l $DURATION"
	echo
	"$REPORT" tls -lat-qps "$LAT_QPS" -deep "$DEEP_OUTSTANDING" "$RES"
}
