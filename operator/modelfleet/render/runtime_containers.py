"""The modelfleet runtime's containers in an engine pod, and their contract.

This module is the one place that says how the pods call the runtime
programs; the runtime (``modelfleet prepull``, ``modelfleet warmup``)
implements exactly this.

The runtime image (``settings.runtime_image``)
    Has the ``modelfleet`` console script and coreutils' ``install``. Runs as uid/gid
    65532 on a read-only root filesystem; ``/tmp`` is a writable emptyDir.

``modelfleet prepull`` (``api.runtime_args.PrepullArgs``, which names its options)
    Downloads the files of the Hugging Face repo ``--model-id`` at
    ``--revision`` (branch, tag or commit) that match any ``--include`` into
    the hub cache ``--cache-dir``, in the layout
    ``huggingface_hub.snapshot_download(cache_dir=DIR)`` makes, so that an
    engine with ``HF_HUB_OFFLINE=1`` resolves the revision there
    (``refs/<branch>`` included, written last). Among the matching weights it
    keeps the ones the engine loads: one format (safetensors over .bin) and
    one layout (the shards the weight index names, not a ``consolidated``
    copy). Idempotent: complete files are not fetched again, partial ones are
    resumed. Safe to run at the same time from several pods on one cache (a
    lock per repo on the volume: one downloads, the others wait).
    Environment: ``HF_TOKEN`` (optional; gated and private repos),
    ``HF_HOME`` (the cache's, so the Hub client's own files land on the
    volume), ``HF_ENDPOINT`` (another Hub). Exit 0 when every file is in
    place; otherwise one ``error:`` line naming the repo, the revision and the
    cause, and an exit code per cause (77 access, 66 repo or revision missing,
    65 no loadable weights, 76 size mismatch, 73 volume full, 69 Hub
    unreachable after retries; see ``modelfleet.runtime.errors``); the
    kubelet retries. The renderer leaves the retry, progress and worker
    options at their defaults.

``modelfleet warmup`` (``api.runtime_args.WarmupArgs``)
    Serves ``GET /ready`` (and ``GET /metrics``) on ``--host:--port``: 503
    until warm, then 200 until the engine stops answering its health checks
    (a restarted engine is cold again: 503 until it is warmed again). Waits
    for the engine's health endpoint (``--engine-url`` + the ``--engine``
    profile's health path), then sends the warm-up set to the OpenAI API at
    ``URL/v1`` as model ``--served-model-name``: prompts that span the
    experts' specialities (code, several natural languages, math, long
    context up to ``--max-model-len`` tokens) at the batch shapes the engine
    compiles, up to ``--max-concurrency`` requests at once. Warm when the set
    is done, or ``--timeout-seconds`` after the engine first answered
    healthy, whichever comes first (it then logs that the replica turns Ready
    unwarmed). Keeps running; exits non-zero only on a fault of its own (the
    kubelet restarts it, and it warms again). The renderer does not pass
    ``--num-experts`` (with vLLM's ``--enable-return-routed-experts``, warm
    until every expert of every layer was hit).

How the pod uses them
    Init containers run in order: ``cache-permissions`` (nodeLocal, pvc),
    ``prepull``, then ``warmup`` as a native sidecar (``restartPolicy:
    Always``). The kubelet starts the engine as soon as the sidecar has
    started, so the sidecar has no startup probe (one would hold the engine
    back forever). A pod is Ready only when every container is, the sidecar
    included: its readiness probe is what keeps a cold replica out of the
    Service. Warm-up is on for mixture-of-experts models unless
    ``spec.warmup.enabled`` says otherwise; off means no sidecar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelfleet.api import LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.api.runtime_args import PrepullArgs, WarmupArgs
from modelfleet.engines import EngineProfile, cache_layout

from . import security
from .cache import CACHE_VOLUME, RUNTIME_TMP_VOLUME
from .engine_args import served_model_name

WARMUP_PORT = 8090
WARMUP_PORT_NAME = "warmup"
WARMUP_READY_PATH = "/ready"


def warmup_enabled(spec: LLMDeploymentSpec, plan: Plan) -> bool:
    if spec.warmup.enabled == "auto":
        return plan.mixture_of_experts
    return spec.warmup.enabled == "true"


def prepull_args(spec: LLMDeploymentSpec, engine: EngineProfile) -> PrepullArgs:
    return PrepullArgs(model_id=spec.model.id, revision=spec.model.revision,
                       cache_dir=Path(cache_layout.HUB_CACHE), include=engine.files)


def prepull_container(spec: LLMDeploymentSpec, engine: EngineProfile, settings: OperatorSettings) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "HF_HOME", "value": cache_layout.HF_HOME}]
    if settings.hub_endpoint:
        env.append({"name": "HF_ENDPOINT", "value": settings.hub_endpoint})
    if spec.model.token_secret_ref is not None:
        ref = spec.model.token_secret_ref
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    return {
        "name": "prepull",
        "image": settings.runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["modelfleet"],
        "args": prepull_args(spec, engine).to_argv(),
        "env": env,
        # Downloads stream to disk; the Xet client buffers chunks in memory.
        # 100m: a download waits on the network, not the CPU, and in nodeLocal mode the
        # DaemonSet's pod keeps its init container's request on every GPU node for good.
        "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": security.restricted(),
        "volumeMounts": [
            {"name": CACHE_VOLUME, "mountPath": cache_layout.MOUNT_PATH},
            {"name": RUNTIME_TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }


def warmup_args(spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile) -> WarmupArgs:
    return WarmupArgs(
        engine_url=f"http://127.0.0.1:{engine.port}",
        engine=engine.kind,
        served_model_name=served_model_name(spec),
        max_model_len=plan.max_model_len,
        max_concurrency=spec.serving.max_concurrency,
        timeout_seconds=spec.warmup.timeout_seconds,
        port=WARMUP_PORT,
    )


def warmup_sidecar(
    spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile, settings: OperatorSettings
) -> dict[str, Any]:
    return {
        "name": "warmup",
        "image": settings.runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "restartPolicy": "Always",
        "command": ["modelfleet"],
        "args": warmup_args(spec, plan, engine).to_argv(),
        "ports": [{"name": WARMUP_PORT_NAME, "containerPort": WARMUP_PORT, "protocol": "TCP"}],
        # As patient as the engine's own readiness probe (5 s): on the real node, a second replica
        # compiling its kernels starved this small process past a 2 s timeout, and the warm replica
        # left the Service for half a minute. A cold engine is the sidecar's own checks' to catch.
        "readinessProbe": {
            "httpGet": {"path": WARMUP_READY_PATH, "port": WARMUP_PORT_NAME},
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": security.restricted(),
        "volumeMounts": [{"name": RUNTIME_TMP_VOLUME, "mountPath": "/tmp"}],
    }


# Where cache-permissions mounts the LLMDeployment's compile directory on the node (nodeLocal) to hand it over.
COMPILE_PATH = "/compile"


def cache_permissions_container(settings: OperatorSettings, compile_mount: dict[str, Any] | None) -> dict[str, Any]:
    """Hands the cache volume's root, and the engine's compile directory when the LLMDeployment keeps one, to the
    runtime user and its group (nodeLocal, pvc).

    The kubelet creates a missing hostPath directory owned by root, mode
    0755, and fsGroup does not apply to hostPath volumes, nor to the many
    ReadWriteMany volumes whose driver does not manage ownership (NFS, and
    hostPath or local PersistentVolumes: a pvc cache failed the pre-pull with
    "Permission denied: '/cache/huggingface'" on the real node). The non-root
    pre-pull could not write to it, nor the engine (the same user) to its
    compile directory: a hostPath of its own (nodeLocal) or a ``subPath`` of
    the claim that the kubelet creates as root (pvc). Owner 65532, group 65532 with the
    group's write bit and setgid, as fsGroup makes the other volume types:
    the engine's processes carry the pod's fsGroup as a supplementary group.
    ``install -d`` sets owner and mode on an existing directory too (CHOWN,
    and FOWNER for the mode of a directory root no longer owns). Not
    recursive: what is below was written by the runtime user already.
    """
    owner = str(security.RUNTIME_UID)
    directories = [cache_layout.MOUNT_PATH]
    mounts = [{"name": CACHE_VOLUME, "mountPath": cache_layout.MOUNT_PATH}]
    if compile_mount is not None and "subPath" in compile_mount:  # pvc: its parents too, inside the claim
        parent = compile_mount["subPath"].split("/")[0]
        directories += [f"{cache_layout.MOUNT_PATH}/{parent}", f"{cache_layout.MOUNT_PATH}/{compile_mount['subPath']}"]
    elif compile_mount is not None:  # nodeLocal: the object's own node directory
        directories.append(COMPILE_PATH)
        mounts.append({"name": compile_mount["name"], "mountPath": COMPILE_PATH})
    return {
        "name": "cache-permissions",
        "image": settings.runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["install", "-d", "-o", owner, "-g", owner, "-m", "2775", *directories],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": security.cache_owner(),
        "volumeMounts": mounts,
    }


def init_containers(
    spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile, settings: OperatorSettings,
    compile_mount: dict[str, Any] | None, restricted: bool = False,
) -> list[dict[str, Any]]:
    """The engine pod's init containers, in the order the kubelet runs them.

    ``compile_mount``: the engine's mount of the LLMDeployment's compile cache (None: it keeps none), whose
    directory cache-permissions hands to the engine's user.

    ``restricted``: the namespace forbids a root container, so there is no cache-permissions step: the volume's
    fsGroup is all there is (and the LLMDeployment keeps no compile cache there: ``decide.pod_security``)."""
    # An emptyDir (mode none) always gets the fsGroup; the node's directory and a shared volume may not.
    containers = []
    if spec.cache.mode in ("nodeLocal", "pvc") and not restricted:
        containers.append(cache_permissions_container(settings, compile_mount))
    containers.append(prepull_container(spec, engine, settings))
    if warmup_enabled(spec, plan):
        containers.append(warmup_sidecar(spec, plan, engine, settings))
    return containers
