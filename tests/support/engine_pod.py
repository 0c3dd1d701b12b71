"""An engine pod's containers as the renderer makes them, run as local processes (there is no kubelet here).

``render_pod`` renders a real LLMDeployment for the tiny Mixtral (served by
the local Hub as ``acme/tiny-mixtral``; ``acme/tiny-mistral`` is its dense
sibling), on vLLM or TGI, and keeps the three containers that matter here,
with their arguments and environment exactly as rendered;
``on_this_machine`` then maps the pod to this machine and nothing else: the
``/cache`` and ``/scratch`` volumes become directories, ``0.0.0.0`` becomes ``127.0.0.1``,
the fixed ports become free ones, and for vLLM ``--gpu-memory-utilization`` goes (the
CPU build sizes its KV cache from ``VLLM_CPU_KVCACHE_SPACE`` instead). TGI keeps
every rendered flag (``--cuda-memory-fraction`` reaches only CUDA's allocator).

The Hub's copy of the tiny model carries two decoys a real Mistral repo has:
the same weights again as ``consolidated.safetensors`` and an old
``pytorch_model.bin``. The pre-pull must leave both out, and vLLM, offline,
must start from what it fetched.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from modelfleet.api import OperatorSettings
from modelfleet.engines import cache_layout
from modelfleet.render import render_all
from support.hub_server import HubRepos, HubServer
from support.render_cases import example, example_plan, with_spec

TINY_REPO = "acme/tiny-mixtral"
TINY_MISTRAL_REPO = "acme/tiny-mistral"
MODELFLEET = Path(sys.executable).parent / "modelfleet"
# Flags of the rendered vLLM engine that have no meaning on the CPU build.
GPU_ONLY_FLAGS = ("--gpu-memory-utilization",)
# Flags the test server (support.vllm_server.VllmServer) sets itself: model, address.
SERVER_FLAGS = ("--model", "--host", "--port")
# The examples each engine's pod is rendered from.
EXAMPLES = {"vllm": "mixtral-8x7b-vllm", "tgi": "mistral-7b-tgi"}


def tiny_model_repos(model_dir: Path, mistral_dir: Path | None = None) -> HubRepos:
    """The tiny Mixtral as ``acme/tiny-mixtral`` (and the tiny Mistral as ``acme/tiny-mistral``, if given)."""
    repos = HubRepos()
    for repo, directory in ((TINY_REPO, model_dir), (TINY_MISTRAL_REPO, mistral_dir)):
        if directory is None:
            continue
        files = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
        files["consolidated.safetensors"] = files["model.safetensors"]
        files["pytorch_model.bin"] = b"an old PyTorch copy of the weights" * 1000
        files["README.md"] = f"# {repo}\n"
        repos.add(repo, files)
    return repos


def bridge_hub(model_dir: Path) -> HubServer:
    """The Hub test server where the local cluster's chart values point (``hubEndpoint`` in e2e/local/values.yaml:
    the real node's bridge), serving the tiny Mixtral in ``model_dir``; not started."""
    from localcluster import settings  # e2e/local: only the local cluster's users call this

    return HubServer(tiny_model_repos(model_dir), host=settings.BRIDGE_IP, port=settings.HUB_PORT)


@dataclass(frozen=True)
class PodContainers:
    prepull_args: list[str]
    prepull_env: dict[str, str]
    engine_args: list[str]
    engine_env: dict[str, str]
    warmup_args: list[str]
    engine: str = "vllm"


def render_pod(max_model_len: int, max_concurrency: int, timeout_s: int = 600, *, engine: str = "vllm",
               model: str = TINY_REPO, revision: str | None = None) -> PodContainers:
    """The pod of an LLMDeployment of ``model`` on ``engine``, with a pre-pull and a warm-up sidecar."""
    name = EXAMPLES[engine]
    changes: dict[str, object] = {
        "model.id": model, "serving.maxModelLen": max_model_len, "serving.maxConcurrency": max_concurrency,
        "warmup.timeoutSeconds": timeout_s,
    }
    if engine == "tgi":  # its example serves from no cache and warms up only mixture-of-experts models
        changes |= {"warmup.enabled": "true", "cache": {"mode": "nodeLocal"}}
    if revision is not None:
        changes["model.revision"] = revision
    resource = with_spec(example(name), **changes)
    plan = example_plan(name).model_copy(
        update={"max_model_len": max_model_len, "tensor_parallel_size": 1, "expert_parallel": False})
    deployment = next(o for o in render_all(resource, plan, OperatorSettings()) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["initContainers"] + pod["containers"]}
    return PodContainers(
        prepull_args=containers["prepull"]["args"],
        prepull_env=_plain_env(containers["prepull"]),
        engine_args=containers["engine"]["args"],
        engine_env=_plain_env(containers["engine"]),
        warmup_args=containers["warmup"]["args"],
        engine=engine,
    )


def _plain_env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@dataclass(frozen=True)
class LocalPod:
    """The pod's containers with paths and ports of this machine."""

    prepull_args: list[str]
    prepull_env: dict[str, str]
    engine_args: list[str]  # for VllmServer: without --model, --host, --port; for TGI: all of them
    engine_env: dict[str, str]
    warmup_args: list[str]
    cache_root: Path
    engine_port: int = 0


def on_this_machine(pod: PodContainers, cache_root: Path, engine_port: int, warmup_port: int) -> LocalPod:
    # The engine's scratch emptyDir (compile cache, remote code) becomes a directory beside the cache.
    scratch_root = cache_root.with_name(cache_root.name + "-scratch")

    def path(value: str) -> str:
        for mount, local in ((cache_layout.MOUNT_PATH, cache_root), (cache_layout.SCRATCH_PATH, scratch_root)):
            if value == mount or value.startswith(mount + "/"):
                return str(local) + value[len(mount):]
        return value

    warmup = [path(a) for a in pod.warmup_args]
    warmup = _set(_set(warmup, "--engine-url", f"http://127.0.0.1:{engine_port}"), "--port", str(warmup_port))
    engine_args = [path(a) for a in pod.engine_args]
    if pod.engine == "tgi":  # the launcher as rendered, on this machine's address and a free port
        engine_args = _set(_set(engine_args, "--hostname", "127.0.0.1"), "--port", str(engine_port))
    else:
        engine_args = _without(_without(engine_args, SERVER_FLAGS), GPU_ONLY_FLAGS)
    return LocalPod(
        prepull_args=[path(a) for a in pod.prepull_args],
        prepull_env={k: path(v) for k, v in pod.prepull_env.items()},
        engine_args=engine_args,
        engine_env={k: path(v) for k, v in pod.engine_env.items()},
        warmup_args=warmup + ["--host", "127.0.0.1"],
        cache_root=cache_root,
        engine_port=engine_port,
    )


def _set(args: list[str], flag: str, value: str) -> list[str]:
    index = args.index(flag)
    return args[:index + 1] + [value] + args[index + 2:]


def _without(args: list[str], flags: tuple[str, ...]) -> list[str]:
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            kept.append(arg)
    return kept


def run_prepull(pod: LocalPod, hub_url: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, **pod.prepull_env, "HF_ENDPOINT": hub_url}
    return subprocess.run([str(MODELFLEET), *pod.prepull_args], env=env, capture_output=True, text=True,
                          timeout=timeout_s)


def start_warmup(pod: LocalPod, log_path: Path) -> subprocess.Popen:
    """The sidecar, started before the engine as the kubelet does; stop it with ``stop_process``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(MODELFLEET), *pod.warmup_args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def set_writable(root: Path, writable: bool) -> None:
    """Every directory and file under ``root`` writable or not: the engine mounts the cache read-only."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        os.chmod(path, (mode | stat.S_IWUSR) if writable else (mode & ~bits))
