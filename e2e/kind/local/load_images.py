"""The images of the kind e2e run on this machine: built with buildah (the local cluster's builds, cached by
their sources' hash, shared with it) and loaded into the kind nodes with ``kind load image-archive``.

    PYTHONPATH=e2e/local python e2e/kind/local/load_images.py --engine vllm|fake --nodes N1,N2 --engine-node N1

Inside the nodes the images carry the names run.sh gives them on Docker (e2e/kind/values.yaml), whatever
their tags in buildah's storage: the archive names them (``docker-archive:PATH:NAME``), so nothing new is
tagged here and the chart's values are the same on both paths.

- ``--nodes``: the operator (``modelfleet/operator:e2e``), and per engine: ``fake``: the fake engine
  (``modelfleet/fake-engine:e2e``, built here on the local clusters' Debian base); ``vllm``: the runtime image
  (``modelfleet/runtime:e2e``: pre-pull, warm-up) and the pause image the pre-pull DaemonSet idles in.
  Small: written to archives in a temporary directory, which kind opens once per node.
- ``--engine-node``, with ``--engine vllm``: the vLLM CPU engine image (~7 GB), streamed: ``buildah push`` writes
  the archive into a FIFO that ``kind load image-archive`` reads (once: one node), so it never lands on disk
  as a file. containerd then holds the layer tarballs and their unpacked snapshots; the tarballs are dropped
  once unpacked (``localcluster.images.drop_layer_blobs_with``, as the real node does): the image costs its
  size once on the node's ``/var`` volume, twice while it is imported.

Every ``buildah push`` from containers-storage first copies each layer, whole, to a temporary file (containers/
image's storage source does, to hold the storage lock briefly): 6.1 GiB for the engine image's biggest layer,
in /var/tmp by default. Here it goes to a directory of ours in /dev/shm (memory, freed as soon as the layer is
sent, the directory removed whatever happens) when the memory is there, otherwise beside the build caches.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from localcluster import images

HERE = pathlib.Path(__file__).resolve().parent
FAKE_ENGINE_DIR = HERE.parent / "fake-engine"
FAKE_ENGINE = "localhost/modelfleet-kind/fake-engine:e2e"
# buildah's tag -> the name inside the nodes (e2e/kind/values.yaml, values-vllm.yaml).
OPERATOR = (images.OPERATOR_IMAGE, "modelfleet/operator:e2e")
RUNTIME = (images.RUNTIME_IMAGE, "modelfleet/runtime:e2e")
PAUSE = (images.PAUSE_IMAGE, images.PAUSE_IMAGE)
FAKE = (FAKE_ENGINE, "modelfleet/fake-engine:e2e")
GIB = 2**30


def log(msg: str) -> None:
    print(f"kind-images: {msg}", file=sys.stderr, flush=True)


def build_fake_engine() -> None:
    """e2e/kind/fake-engine on the Debian Python base, built again when its files or the base change."""
    files = sorted(f for f in FAKE_ENGINE_DIR.iterdir() if f.is_file())
    parts = (part for f in files for part in (f.name, f.read_bytes()))
    digest = images.sha256(str(images.image_id(images.PYTHON_BASE)), *parts)
    if images.is_current(FAKE_ENGINE, digest, FAKE_ENGINE):
        return
    images._bud(FAKE_ENGINE_DIR / "Dockerfile", FAKE_ENGINE_DIR, FAKE_ENGINE, "--build-arg",
                f"BASE_IMAGE={images.PYTHON_BASE}")
    images.record(FAKE_ENGINE, digest)


def build(engine: str) -> None:
    images.build_base(images.PYTHON_BASE, images.BASES[images.PYTHON_BASE])
    images.build_modelfleet_images()
    if engine == "fake":
        build_fake_engine()
    else:
        images.build_pause()
        images.build_base(images.ENGINE_BASE, images.BASES[images.ENGINE_BASE])
        images.build_engine_image()


def kind(*args: str) -> None:
    done = subprocess.run([os.environ.get("KIND", "kind"), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kind {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


@contextlib.contextmanager
def layer_copies(room: int):
    """A directory for buildah's copies of the layers (TMPDIR): in memory if ``room`` bytes and 2 GiB more are
    available there, else on disk beside the caches; removed afterwards."""
    available = int(next(line.split()[1] for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemAvailable:"))) * 1024
    shm = pathlib.Path("/dev/shm")
    memory = shm.is_dir() and min(available, shutil.disk_usage(shm).free) > room + 2 * GIB
    with tempfile.TemporaryDirectory(prefix="kind-layers-", dir=shm if memory else images.settings.cache_dir()) as tmp:
        yield tmp


def push(tag: str, name: str, path: pathlib.Path, tmp: str) -> subprocess.Popen:
    return subprocess.Popen([images.BUILDAH, "push", "--quiet", tag, f"docker-archive:{path}:{name}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": tmp})


def biggest_layer(tag: str) -> int:
    """Bytes of the image's biggest layer, uncompressed (containers-storage's record of it)."""
    inspected = json.loads(subprocess.run([images.BUILDAH, "inspect", "--type", "image", tag], capture_output=True,
                                          text=True, check=True).stdout)
    top = inspected["FromImageID"]
    storage = images._buildah_root()
    layers = {layer["id"]: layer for layer in json.loads((storage / "overlay-layers" / "layers.json").read_text())}
    (image,) = [i for i in json.loads((storage / "overlay-images" / "images.json").read_text()) if i["id"] == top]
    sizes, layer = [], image.get("layer")
    while layer:
        sizes.append(layers[layer].get("diff-size", 0))
        layer = layers[layer].get("parent")
    return max(sizes, default=0)


def load_small(cluster: str, nodes: str, wanted: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory(prefix="kind-images-", dir=images.settings.cache_dir()) as tmp, \
            layer_copies(max(biggest_layer(tag) for tag, _ in wanted)) as copies:
        archives = []
        for tag, name in wanted:
            archive = pathlib.Path(tmp) / f"{name.replace('/', '_').replace(':', '_')}.tar"
            pushed = push(tag, name, archive, copies)
            if pushed.wait() != 0:
                raise RuntimeError(f"buildah push {tag}: {pushed.stderr.read().decode()[-2000:]}")
            archives.append(str(archive))
        kind("load", "image-archive", "--name", cluster, "--nodes", nodes, *archives)


def image_bytes(tag: str) -> int:
    out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


def load_streamed(cluster: str, node: str, tag: str) -> None:
    """One big image into one node, through a FIFO; then its layer tarballs dropped inside the node."""
    size = image_bytes(tag)
    free = shutil.disk_usage(images._buildah_root()).free
    # The tarballs and the snapshots at once on the node's /var volume, and room to spare.
    needed = 2 * size + GIB
    if free < needed:
        raise RuntimeError(f"loading {tag} ({size / GIB:.1f} GiB) into {node} needs {needed / GIB:.0f} GiB free "
                           f"while it is imported; {free / GIB:.1f} GiB are")
    with tempfile.TemporaryDirectory(prefix="kind-fifo-") as tmp, layer_copies(biggest_layer(tag)) as copies:
        fifo = pathlib.Path(tmp) / "image.tar"
        os.mkfifo(fifo)
        pushed = push(tag, tag, fifo, copies)
        errors: list[BaseException] = []

        def load() -> None:
            try:
                kind("load", "image-archive", "--name", cluster, "--nodes", node, str(fifo))
            except BaseException as e:  # noqa: BLE001 - reported below, with buildah's side
                errors.append(e)
                with contextlib.suppress(OSError):  # unblock buildah if kind never opened the FIFO
                    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))

        loader = threading.Thread(target=load)
        loader.start()
        while loader.is_alive():
            loader.join(timeout=1)
            if pushed.poll() not in (None, 0):  # buildah failed: let kind read an end of file rather than wait
                with contextlib.suppress(OSError):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        if errors:
            pushed.kill()
        rc = pushed.wait()
        if errors or rc != 0:
            raise RuntimeError(f"loading {tag} into {node}: kind: {errors[0] if errors else 'ok'}; buildah push "
                               f"exited {rc}: {pushed.stderr.read().decode()[-2000:]}")
    dropped = images.drop_layer_blobs_with(["podman", "exec", node, "ctr", "-n", "k8s.io"], tag)
    log(f"{tag}: {size / GIB:.2f} GiB; its layer tarballs dropped in {node} ({dropped / GIB:.2f} GiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["vllm", "fake"], required=True)
    parser.add_argument("--cluster", default="modelfleet-e2e")
    parser.add_argument("--nodes", required=True, help="comma-separated: the nodes of the small images")
    parser.add_argument("--engine-node", help="the node of the vLLM engine image (--engine vllm)")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    start = time.monotonic()
    build(args.engine)
    log(f"built or found current in {time.monotonic() - start:.0f}s")
    if args.build_only:
        return 0
    # The small images and the engine image load at once: one after the other they took 52 s and then 324 s in
    # a CI-like run, the engine image's stream mostly waiting on its own copies and digests.
    small, named = ([OPERATOR, FAKE], "fake engine") if args.engine == "fake" else ([OPERATOR, RUNTIME, PAUSE],
                                                                                     "runtime, pause")
    with ThreadPoolExecutor(max_workers=2) as pool:
        loads = [pool.submit(timed, f"operator and {named} loaded into {args.nodes}", load_small, args.cluster,
                             args.nodes, small)]
        if args.engine == "vllm":
            loads.append(pool.submit(timed, f"{images.engine_image()} loaded into {args.engine_node}",
                                     load_streamed, args.cluster, args.engine_node, images.engine_image()))
        for load in loads:
            load.result()  # the first failure, raised here
    return 0


def timed(done: str, load, *args) -> None:
    start = time.monotonic()
    load(*args)
    log(f"{done} in {time.monotonic() - start:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
