#!/usr/bin/env bash
# Run health_test.yaml's cases on Argo CD's own Lua evaluation: `go test` of
# this module, which builds Argo CD's util/lua (and gitops-engine's health)
# at the release go.mod pins. Extra arguments go to `go test` (e.g. -json, -v).
#
# Modules, the Go toolchain Argo CD needs and the build cache live under
# $MODELFLEET_CACHE/go (default ~/.cache/modelfleet/go), outside the repo, so
# only the first run is slow (about 6 CPU-minutes of compiling: 7 to 17 min
# on 2 shared cores); a rerun takes about 10 s. go.mod and go.sum are the
# pins: -mod=readonly.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}/go"
# The machine's Go (its image puts it in /usr/local/go/bin, as for e2e/local/build.sh).
command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "run.sh: no go command on PATH nor in /usr/local/go/bin" >&2; exit 127; }
export GOPATH="$CACHE" GOMODCACHE="$CACHE/mod" GOCACHE="$CACHE/build"
# Argo CD v3.6 needs Go 1.27: the go command takes this approved toolchain
# from the Go module proxy (once, into GOMODCACHE) whatever Go the machine has.
export GOTOOLCHAIN=go1.27.3 CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
cd "$HERE"
exec nice -n 10 go test -count=1 "$@" ./...
