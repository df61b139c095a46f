# shellcheck shell=bash
# Helpers bench/run.sh, bench/rig.sh and bench/tls.sh share; sourced after they
# define log, die and WORK. probe (the readiness check wait_ready uses) is
# each script's own.

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
APT_UPDATED=0

stop_pid() {
	local p=$1
	kill "$p" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
}

apt_install() { # PACKAGE
	log "installing $1 (apt-get)"
	if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
}

port_busy() { # TCP or UDP listener on the port (any address family)?
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v h="$hex" 'NR>1 && substr($2, length($2)-4) == h {f=1} END {exit !f}' \
		/proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6 2>/dev/null
}

cpu_busy_pct() { # CPU use of the whole machine over 2 s, in percent
	local a b
	read -ra a < <(awk '/^cpu / {printf "%d %d\n", $2+$3+$4+$7+$8, $5+$6}' /proc/stat); sleep 2
	read -ra b < <(awk '/^cpu / {printf "%d %d\n", $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
	awk -v bu=$((b[0] - a[0])) -v id=$((b[1] - a[1])) 'BEGIN {printf "%.0f", 100 * bu / (bu + id + 1e-9)}'
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

offbox_check() { # PID NAME: warn about any socket not on loopback
	command -v ss >/dev/null || return 0
	local bad
	bad=$(ss -Htunap 2>/dev/null | grep "pid=$1," | awk '$5 !~ /^(127\.|\[::1\]|\[::ffff:127\.)/ || $6 !~ /^(127\.|\[::1\]|\[::ffff:127\.|\*:\*|0\.0\.0\.0:\*|\[::\]:\*)/' || true)
	[ -z "$bad" ] || log "WARNING: $2 has non-loopback sockets: $bad"
}

build_dnsproxy() { # DNSPROXY_BIN at DNSPROXY_VERSION, built if missing or another version
	if [ ! -x "$DNSPROXY_BIN" ] || [ "$("$DNSPROXY_BIN" --version 2>/dev/null)" != "dnsproxy version $DNSPROXY_VERSION" ]; then
		# Built in a throw-away module rather than with `go install mod@version`,
		# which also fetches the module's version list (for deprecation notices)
		# and so fails where the module proxy serves versions but not lists.
		log "building AdGuard dnsproxy $DNSPROXY_VERSION from its Go module (about 30 s)"
		mkdir -p "$WORK/dnsproxy-build" "$(dirname "$DNSPROXY_BIN")"
		(cd "$WORK/dnsproxy-build" && go mod init benchpeer >/dev/null 2>&1 &&
			go get "github.com/AdguardTeam/dnsproxy@$DNSPROXY_VERSION" >/dev/null 2>&1 &&
			go build -ldflags "-X github.com/AdguardTeam/dnsproxy/internal/version.version=$DNSPROXY_VERSION" \
				-o "$DNSPROXY_BIN" github.com/AdguardTeam/dnsproxy) || die "building dnsproxy failed"
		rm -rf "$WORK/dnsproxy-build"
	fi
}
