#!/usr/bin/env bash
# Builds (or reuses) TGI for the CPU from the unmodified upstream tarball plus our patches
# (e2e/engine/tgi/patches/*.patch): the Rust launcher and v3 router, and the Python server's
# virtualenv, in one install prefix outside the repo. The prefix is a virtualenv whose bin/ holds
# text-generation-launcher, text-generation-router and text-generation-server; wheelhouse/ holds the
# server's own wheel (the TGI CPU image installs from it). Prints the prefix on stdout as its last line.
#
# The prefix is keyed by a hash of the tarball, the patches and this script, so changing any of them
# builds a new one and an unchanged input reuses it (a warm run only hashes). Cargo's registry and
# target directory are shared between keys, so a new patch recompiles the crates it touches, not
# all 400.
#
# TGI_SOURCE_TARBALL overrides where the tarball is (default: ../shared/third_party beside the repo).
# --print-prefix prints where the prefix for these inputs is (built or not) and builds nothing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
# The one pinned TGI version lives in the operator's TGI engine profile.
TGI_VERSION="$(sed -n 's/^TGI_VERSION = "\(.*\)"$/\1/p' "$REPO/operator/modelfleet/engines/tgi.py")"
[[ -n "$TGI_VERSION" ]] || { echo "no TGI_VERSION in operator/modelfleet/engines/tgi.py" >&2; exit 1; }
TARBALL="${TGI_SOURCE_TARBALL:-$REPO/../shared/third_party/text-generation-inference-$TGI_VERSION.tar.gz}"
# ../shared/third_party/README.md: tag v3.3.7, commit dfb3fbe78e0d1d69251bd33065591c61bafdfaa8.
TARBALL_SHA256=084a261bf050d63054de22b014a467e14ff89e55827028dd15f053583682b183
# The Python both the Rust binaries (pyo3 links libpython) and the server's virtualenv use: Debian
# bookworm's, the Python of the engine images (e2e/local/localcluster/images.py).
PYTHON=/usr/bin/python3.11
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
ROOT="$CACHE/tgi"

[[ -f "$TARBALL" ]] || { echo "TGI source tarball not found: $TARBALL (set TGI_SOURCE_TARBALL)" >&2; exit 1; }
# The tarball is about 1 MB: hashing it (with the patches and this script) costs milliseconds.
KEY="$( { sha256sum < "$TARBALL"
          for p in "$HERE"/patches/*.patch; do echo "$(basename "$p")"; sha256sum < "$p"; done
          sha256sum < "$HERE/build.sh"; } | sha256sum | cut -c1-16)"
PREFIX="$ROOT/tgi-cpu-$TGI_VERSION-$KEY"
if [[ "${1:-}" == "--print-prefix" ]]; then
  echo "$PREFIX"
  exit 0
fi
if [[ -f "$PREFIX/.modelfleet-complete" ]]; then
  echo "$PREFIX"
  exit 0
fi

mkdir -p "$ROOT"
# One build at a time (make test and an image build may ask together); the second one then reuses it.
exec 9>"$ROOT/.lock"
flock 9
if [[ -f "$PREFIX/.modelfleet-complete" ]]; then
  echo "$PREFIX"
  exit 0
fi
log() { echo "tgi-build: $*" >&2; }
# What an interrupted build of other inputs left (under the lock, so none is being written): its Rust
# stage and its half-made prefix. Complete prefixes of other inputs stay (another checkout may use one).
for leftover in "$ROOT"/stage-* "$ROOT"/tgi-cpu-*; do
  [[ -e "$leftover" && "$leftover" != "$ROOT/stage-$KEY" && ! -f "$leftover/.modelfleet-complete" ]] || continue
  log "removing $leftover (an unfinished build)"
  rm -rf "$leftover"
done

actual="$(sha256sum < "$TARBALL" | cut -d' ' -f1)"
[[ "$actual" == "$TARBALL_SHA256" ]] || { echo "$TARBALL: sha256 $actual, expected $TARBALL_SHA256" >&2; exit 1; }

# Debian packages, the way e2e/local/install-packages.sh installs them: only what is missing.
# protobuf-compiler for the router's gRPC code; libssl-dev and pkg-config for openssl-sys;
# python3.11-dev for libpython3.11.so (pyo3); python3.11-venv for the server's virtualenv.
packages=(protobuf-compiler libssl-dev pkg-config python3.11 python3.11-dev python3.11-venv make git)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# The patched source, always at the same path: cargo's target dir remembers workspace crates by path
# and by their files' mtimes. A fresh copy is patched aside, then only the files whose content differs
# are copied over, so cargo compiles again only what a patch changed. The build scripts of the gRPC
# clients write their code into the tree (backends/v3/build.rs: src/client/pb), which stays.
SRC="$ROOT/src"
NEW="$ROOT/src.new"
rm -rf "$NEW"
mkdir -p "$NEW" "$SRC"
tar -xzf "$TARBALL" -C "$NEW" --strip-components=1
for p in "$HERE"/patches/*.patch; do
  log "applying $(basename "$p")"
  git -C "$NEW" apply --whitespace=nowarn "$p"
done
(cd "$NEW" && find . -type f) | while read -r f; do
  if ! cmp -s "$NEW/$f" "$SRC/$f"; then mkdir -p "$(dirname "$SRC/$f")"; cp "$NEW/$f" "$SRC/$f"; fi
done
(cd "$SRC" && find . -type f -not -path "*/pb/*") | while read -r f; do
  [[ -e "$NEW/$f" ]] || rm -f "$SRC/$f"
done
rm -rf "$NEW"
# No generated gRPC code (a new tree): make cargo run the build script again, whatever it remembers.
[[ -d "$SRC/backends/v3/src/client/pb" ]] || find "$SRC/proto" -exec touch {} +

STAGE="$ROOT/stage-$KEY"
mkdir -p "$STAGE"
if [[ ! -f "$STAGE/.rust-done" ]]; then
  log "building the launcher and the v3 router (cold: ~15 min on 2 cores)"
  start=$SECONDS
  (
    cd "$SRC"
    export CARGO_HOME="$ROOT/cargo-home" CARGO_TARGET_DIR="$ROOT/cargo-target" PYO3_PYTHON="$PYTHON"
    cargo build --release --locked -p text-generation-launcher -p text-generation-router-v3 \
      --no-default-features >&2
    mkdir -p "$STAGE/bin"
    cp "$CARGO_TARGET_DIR/release/text-generation-launcher" "$CARGO_TARGET_DIR/release/text-generation-router" \
      "$STAGE/bin/"
  )
  log "rust part took $((SECONDS - start)) s"
  touch "$STAGE/.rust-done"
fi

log "building the server's virtualenv in $PREFIX (cold: a few minutes, ~7 GB)"
start=$SECONDS
rm -rf "$PREFIX"
"$PYTHON" -m venv "$PREFIX"
PIP=("$PREFIX/bin/pip" install --disable-pip-version-check --progress-bar off)
"${PIP[@]}" --upgrade pip >&2
# Upstream's locks (server/Makefile export-requirements): requirements_gen.txt is the server's own,
# requirements_intel.txt the server with its extras and no CUDA kernels, which pins torch (2.7.0:
# PyPI's build, which runs on the CPU) and transformers (4.51.3). They disagree on one pin (fsspec:
# intel's comes from datasets, of the quantize extra, not installed here), so the constraints are
# intel's pins with gen's where both pin. One resolution: the server's requirements, torch, and the
# extras of upstream's install-server (peft is imported unconditionally).
CONSTRAINTS="$PREFIX/constraints.txt"
"$PYTHON" - "$SRC/server/requirements_intel.txt" "$SRC/server/requirements_gen.txt" > "$CONSTRAINTS" <<'PY'
import re, sys
pins = {}
for path in sys.argv[1:]:  # the later file wins
    for line in open(path):
        match = re.match(r"([A-Za-z0-9_.-]+)==\S+", line)
        if match:
            pins[match.group(1).lower()] = match.group(0)
print("\n".join(pins.values()))
PY
"${PIP[@]}" -c "$CONSTRAINTS" -r "$SRC/server/requirements_gen.txt" torch accelerate compressed-tensors peft \
  outlines >&2
(cd "$SRC/server" && PATH="$PREFIX/bin:$PATH" make gen-server-raw >&2)
mkdir -p "$PREFIX/wheelhouse"
"$PREFIX/bin/pip" wheel --disable-pip-version-check --no-deps --no-build-isolation \
  --wheel-dir "$PREFIX/wheelhouse" "$SRC/server" >&2
"${PIP[@]}" --no-deps "$PREFIX"/wheelhouse/text_generation_server-*.whl >&2
# Never the vision/audio packages: they fail to load against this torch and TGI's text path needs none.
if "$PREFIX/bin/pip" show torchvision torchaudio torchcodec >/dev/null 2>&1; then
  log "torchvision/torchaudio/torchcodec got installed; refusing"; exit 1
fi
cp "$STAGE"/bin/* "$PREFIX/bin/"
log "python part took $((SECONDS - start)) s"

# Fail here, not in a test, when the engine cannot load. The launcher sets ATTENTION and PREFIX_CACHING
# for its shards (launcher/src/main.rs resolve_attention); models/globals.py requires them.
ATTENTION=paged PREFIX_CACHING=0 "$PREFIX/bin/python" -c "import torch, transformers, peft, text_generation_server.models.causal_lm; print('torch', torch.__version__, 'transformers', transformers.__version__)" >&2
"$PREFIX/bin/text-generation-launcher" --version >&2
"$PREFIX/bin/text-generation-router" --version >&2
echo "$KEY" > "$PREFIX/.modelfleet-key"
touch "$PREFIX/.modelfleet-complete"
rm -rf "$STAGE"
echo "$PREFIX"
