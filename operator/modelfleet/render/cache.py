"""The weights cache, per ``spec.cache.mode``, and the pod volumes around it.

- ``pvc``: one ReadWriteMany PersistentVolumeClaim shared by every replica:
  the first replica's pre-pull fills it, the others find the files there.
- ``nodeLocal``: a directory on each GPU node (``settings.node_cache_path``,
  a hostPath the kubelet creates if missing), shared by every model on the
  node and filled ahead of time by the pre-pull DaemonSet (``prepull.py``).
- ``none``: an emptyDir per pod on the node's disk; every start downloads.

Size (pvc, none): ``spec.cache.size``, else the checkpoint plus
``HEADROOM`` (20%) for the hub's partial downloads and lock files.

Only the pre-pull writes to the cache; the engine container mounts it
read-only and writes to its pod's own ``scratch`` emptyDir
(``engines.cache_layout`` says why).
"""

from __future__ import annotations

import math
from typing import Any

from modelfleet.api import LLMDeployment, LLMDeploymentSpec, OperatorSettings, Plan

from .checkpoint import checkpoint_gib
from .labels import CACHE, metadata
from .names import cache_claim_name
from .resources import shm_gib

CACHE_VOLUME = "cache"
SHM_VOLUME = "shm"
RUNTIME_TMP_VOLUME = "runtime-tmp"
SCRATCH_VOLUME = "scratch"
HEADROOM = 1.2
# vLLM's torch.compile cache of one model is tens to hundreds of MiB; the
# limit leaves room for several configurations and transformers' remote code,
# and keeps a runaway writer from filling the node's disk (the kubelet evicts
# the pod past it).
SCRATCH_SIZE = "8Gi"


def cache_size(spec: LLMDeploymentSpec, plan: Plan) -> str:
    return spec.cache.size or f"{math.ceil(checkpoint_gib(spec, plan) * HEADROOM)}Gi"


def disk_cache_size(spec: LLMDeploymentSpec, plan: Plan) -> str | None:
    """The size the pod's own node disk must have for the cache (mode none), else None."""
    return cache_size(spec, plan) if spec.cache.mode == "none" else None


def cache_volume(resource: LLMDeployment, plan: Plan, settings: OperatorSettings) -> dict[str, Any]:
    spec = resource.spec
    if spec.cache.mode == "pvc":
        source = {"persistentVolumeClaim": {"claimName": cache_claim_name(resource.metadata["name"])}}
    elif spec.cache.mode == "nodeLocal":
        source = {"hostPath": {"path": settings.node_cache_path, "type": "DirectoryOrCreate"}}
    else:
        source = {"emptyDir": {"sizeLimit": cache_size(spec, plan)}}
    return {"name": CACHE_VOLUME, **source}


def shm_volume(plan: Plan) -> dict[str, Any]:
    # Docker's 64 MiB /dev/shm default is too small for NCCL across GPUs.
    return {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_gib(plan)}Gi"}}


def scratch_volume() -> dict[str, Any]:
    # The engine's writable directory: per pod, never shared with another
    # tenant's pods the way the nodeLocal cache is.
    return {"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": SCRATCH_SIZE}}


def runtime_tmp_volume() -> dict[str, Any]:
    # The runtime containers' root filesystems are read-only; libraries still want a /tmp.
    return {"name": RUNTIME_TMP_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}}


def cache_claim(resource: LLMDeployment, plan: Plan) -> dict[str, Any]:
    spec = resource.spec
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": cache_size(spec, plan)}},
    }
    if spec.cache.storage_class_name:
        claim_spec["storageClassName"] = spec.cache.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(resource, cache_claim_name(resource.metadata["name"]), CACHE),
        "spec": claim_spec,
    }
