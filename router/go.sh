#!/usr/bin/env bash
# The go command for the router module, as the tests, the benchmark, the Makefile and the image run it:
# modules and the build cache under $MODELFLEET_CACHE/go (outside the repo; shared with argocd/gotest),
# go.mod and go.sum as the pins (-mod=readonly), no cgo unless asked (a static binary for a distroless
# image; the race detector needs cgo: CGO_ENABLED=1).
#   router/go.sh test ./...     router/go.sh build -o bin/modelfleet-router .
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}/go"
# The machine's Go (its image puts it in /usr/local/go/bin, as for e2e/local/build.sh).
command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "router/go.sh: no go command on PATH nor in /usr/local/go/bin" >&2; exit 127; }
export GOPATH="$CACHE" GOMODCACHE="$CACHE/mod" GOCACHE="$CACHE/build"
export CGO_ENABLED="${CGO_ENABLED:-0}" GOFLAGS="${GOFLAGS:-} -mod=readonly"
cd "$HERE"
exec go "$@"
