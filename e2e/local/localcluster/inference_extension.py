"""The Gateway API Inference Extension's CRDs (the GA ``InferencePool``), from its Go module.

The release is pinned once, by ``gomod/inference-extension/go.mod`` (its
``go.sum`` holds the module's hash). ``crd_files()`` downloads that module
through the Go module proxy (``go mod download -json``, checked against
``go.sum``) and copies its ``config/crd/bases/*.yaml`` into
``$MODELFLEET_CACHE/crds/inference-extension-<hash of go.mod and go.sum>/``,
so only the first call on a machine downloads (1.3 MB); a new pin is a new
directory. Go's module cache is scratch, removed once the CRDs are copied,
as ``build.sh`` does with its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

from .settings import LOCAL_DIR, cache_dir

MODULE = "sigs.k8s.io/gateway-api-inference-extension"
PINS = LOCAL_DIR / "gomod" / "inference-extension"
# The GA InferencePool's CRD, the one the operator renders objects of.
INFERENCE_POOL_CRD = "inference.networking.k8s.io_inferencepools.yaml"
DOWNLOAD_TIMEOUT_S = 300


class ExtensionError(RuntimeError):
    """The CRDs could not be fetched: the message says what failed and what to check."""


def pins_hash() -> str:
    """What the cached copy is of: the pinned module and its checksum."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((PINS / name).read_bytes())
    return digest.hexdigest()[:16]


def pinned_version() -> str:
    """The release go.mod requires (for messages and docs)."""
    for line in (PINS / "go.mod").read_text().splitlines():
        words = line.split()
        if words[:2] == ["require", MODULE]:
            return words[2]
    raise ExtensionError(f"{PINS / 'go.mod'} requires no {MODULE}")


def crd_dir() -> pathlib.Path:
    """The directory of the pinned release's CRDs, downloaded on the first call."""
    out = cache_dir() / "crds" / f"inference-extension-{pins_hash()}"
    if (out / INFERENCE_POOL_CRD).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix=".inference-extension-", dir=out.parent))
    try:
        module_dir = _download(scratch / "gomod")
        staged = scratch / "crds"
        staged.mkdir()
        for crd in sorted((module_dir / "config" / "crd" / "bases").glob("*.yaml")):
            shutil.copyfile(crd, staged / crd.name)
        if not (staged / INFERENCE_POOL_CRD).is_file():
            raise ExtensionError(f"{MODULE}@{pinned_version()} has no config/crd/bases/{INFERENCE_POOL_CRD}: "
                                 "pin a v1.x release (the GA InferencePool) in " + str(PINS / "go.mod"))
        if not out.exists():
            staged.rename(out)  # whole or not at all: a killed download leaves only scratch
    finally:
        _remove(scratch)
    return out


def crd_files() -> list[pathlib.Path]:
    """Every CRD of the pinned release (InferencePool first)."""
    return sorted(crd_dir().glob("*.yaml"), key=lambda p: (p.name != INFERENCE_POOL_CRD, p.name))


def _download(gomodcache: pathlib.Path) -> pathlib.Path:
    """The module's directory in a fresh module cache."""
    env = {**os.environ, "GOMODCACHE": str(gomodcache), "GOFLAGS": "-mod=readonly"}
    try:
        done = subprocess.run([_go(), "mod", "download", "-json", MODULE], cwd=PINS, env=env,
                              capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise ExtensionError(f"go mod download {MODULE} took over {DOWNLOAD_TIMEOUT_S} s: is the Go module "
                             "proxy (GOPROXY) reachable?") from e
    try:
        info = json.loads(done.stdout) if done.stdout.strip() else {}
    except ValueError:
        info = {}
    if done.returncode != 0 or "Dir" not in info:
        raise ExtensionError(f"go mod download {MODULE} (pinned in {PINS}) failed: "
                             f"{info.get('Error') or done.stderr.strip() or done.stdout.strip()}")
    return pathlib.Path(info["Dir"])


def _go() -> str:
    """The machine's Go (its image puts it in /usr/local/go/bin, as build.sh expects)."""
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        raise ExtensionError("no go command on PATH nor in /usr/local/go/bin: the Inference Extension's CRDs are "
                             "fetched from its Go module (install Go)")
    return found


def _remove(path: pathlib.Path) -> None:
    """Go's module cache is read-only: make it writable, then remove it."""
    if not path.exists():
        return
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)
