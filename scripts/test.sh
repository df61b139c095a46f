#!/usr/bin/env bash
# Runs every nxray test on a fresh Debian machine, installing what the tests
# need first. Usage: scripts/test.sh   (FUZZTIME=0 skips the short fuzz runs)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (want Go 1.26+ at /usr/local/go)" >&2; exit 1; }

echo "== Go modules"
go mod download

# Real DNS software the tests drive: dig (Debian's bind9-dnsutils) reads
# nxray's Extended DNS Errors in the demo test.
if ! command -v dig >/dev/null 2>&1; then
  echo "== installing bind9-dnsutils (dig)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq bind9-dnsutils >/dev/null
fi

# Debian's Chromium: the status page test drives it headless (chromedp) to
# check what a person sees, that hostile names stay text, and live updates.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (status page browser test)"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# BIND 9, its DNSSEC tools and Unbound serve the private tree of
# internal/realdns on 127.0.1.x port 53 (root needed; iproute2 adds the
# loopback aliases BIND listens on); dnsmasq and Knot Resolver are resolvers
# users run nxray behind, tested there too.
if ! { command -v named || [ -x /usr/sbin/named ]; } >/dev/null 2>&1 || ! [ -x /usr/sbin/unbound ] ||
   ! command -v dnssec-signzone >/dev/null 2>&1 || ! { command -v ip || [ -x /usr/sbin/ip ]; } >/dev/null 2>&1 ||
   ! [ -x /usr/sbin/dnsmasq ] || ! [ -x /usr/sbin/kresd ]; then
  echo "== installing bind9, bind9-utils, unbound, dnsmasq-base, knot-resolver, iproute2"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq bind9 bind9-utils unbound dnsmasq-base knot-resolver iproute2 >/dev/null
fi

echo "== gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...

echo "== go test -race"
go test -race -count=1 $(go list ./... | grep -v /internal/realdns)

echo "== proxy tests again, UDP served as on a wildcard address (pktinfo), on loopback"
NXRAY_TEST_PKTINFO=1 go test -race -count=1 ./proxy

echo "== against real DNS software (BIND 9, Unbound, dnsmasq, Knot Resolver): every scenario"
go test -race -count=1 -v ./internal/realdns 2>&1 | grep -E '^\s*(--- |ok|FAIL|PASS|panic)|_test\.go:'


# Each fuzz target runs a fixed number of inputs (about 10-15 s here), not a
# duration: a duration-bounded run can fail with a bare "context deadline
# exceeded" when it ends mid-input, a race in Go's fuzz coordinator
# (golang/go#75804, fixed in Go 1.27). FUZZTIME=30s (or 50000x) sets one
# budget for every target; FUZZTIME=0 skips fuzzing.
fuzztime=${FUZZTIME:-}
if [ "$fuzztime" != "0" ]; then
  echo "== fuzzing, ${fuzztime:-a fixed number of inputs} per target"
  for spec in proxy:FuzzServeDNS:100000x proxy:FuzzUDPPacket:100000x proxy:FuzzTCPStream:80000x \
    proxy:FuzzPlainAnswer:200000x internal/dnscache:FuzzScan:80000x internal/dnscache:FuzzParseQuery:200000x; do
    pkg=${spec%%:*} rest=${spec#*:}
    target=${rest%%:*}
    go test "./$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzztime:-${rest#*:}}" -timeout 10m
  done
  go test ./config -run '^$' -fuzz '^FuzzLoad$' -fuzztime "${fuzztime:-5000x}" -timeout 10m
fi
