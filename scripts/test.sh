#!/usr/bin/env bash
# Runs every nxray test on a fresh Debian machine, installing what the tests
# need first. Usage: scripts/test.sh   (FUZZTIME=0 skips the short fuzz runs)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || { echo "test.sh: Go is not installed (want Go 1.26+ at /usr/local/go)" >&2; exit 1; }

echo "== Go modules"
go mod download

echo "== gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...

echo "== go test -race"
go test -race -count=1 ./...

fuzztime=${FUZZTIME:-15s}
if [ "$fuzztime" != "0" ]; then
  echo "== fuzzing, $fuzztime per target"
  for target in FuzzServeDNS FuzzScanTTLs; do
    go test ./proxy -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
  done
fi
