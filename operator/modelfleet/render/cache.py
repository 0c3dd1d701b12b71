"""The weights cache, per ``spec.cache.mode``, and the pod volumes around it.

- ``pvc``: one ReadWriteMany PersistentVolumeClaim shared by every replica:
  the first replica's pre-pull fills it, the others find the files there.
- ``nodeLocal``: a directory on each GPU node (a hostPath the kubelet
  creates if missing), filled ahead of time by the pre-pull DaemonSet
  (``prepull.py``). Which directory depends on who may read the weights:

  - public weights (no ``spec.model.tokenSecretRef``): ``settings.node_cache_path``,
    shared by every namespace, so a model many teams serve is on the node once;
  - weights fetched with a token (gated or private repositories):
    ``<settings.node_private_cache_path>/<namespace>``, mounted only by that
    namespace's pods. A token is what says the Hub may refuse others, so the
    bytes it fetched are cached where only its namespace reaches them.

  The private root is a sibling of the public one, never inside it
  (``OperatorSettings`` refuses that): every public pre-pull mounts the
  public root whole, and must not reach a namespace's private directory.
  One directory per namespace, not per object: the namespace is the tenant
  boundary (its Secrets, hence its tokens, are readable in it already), and
  its LLMDeployments of one model share one copy. A namespace deleted and
  made again under the same name finds the directory, but reaches it only
  through an LLMDeployment with a token, whose pre-pull asks the Hub with
  that token before any engine starts: a token the repo refuses stops the
  pod at its pre-pull.
- ``none``: an emptyDir per pod on the node's disk; every start downloads.

Which containers mount what: the cache-permissions step and the pre-pull
(the runtime image, our code) mount the volume whole, read-write; the
engine (the tenant's image) mounts only its model's directory of the hub
cache, read-only (``engine_cache_mount``); the warm-up sidecar and the
DaemonSet's idle container mount none of it.

Size (pvc, none): ``spec.cache.size``, else the checkpoint plus
``HEADROOM`` (20%) for the hub's partial downloads and lock files.

Only the pre-pull writes to the cache; the engine container mounts its
model's part of it read-only and writes to its pod's own ``scratch``
emptyDir (``engines.cache_layout`` says why).

The compile cache (``spec.cache.compileCache``, engines whose profile has
one: vLLM) is the exception that is shared, and only within one
LLMDeployment: a directory of the object's own, keyed by what changes the
compiled graph, mounted read-write over the engine's compile directory.

- ``nodeLocal``: ``<nodeCompileCachePath>/<namespace>/<uid>/<key>`` on the
  node. The namespace keeps tenants apart, the UID keeps a later object of the
  same name from inheriting it; no spec field can name another path.
- ``pvc``: ``modelfleet-compile/<key>`` in the object's own claim (a
  ``subPath``, so the engine sees only that directory writable).
- ``none``, or ``compileCache: false``: nothing shared; each pod compiles
  into its scratch volume.

The key is a digest of the engine image, the model and its revision, and
every engine flag (a superset of the flags that change the graph: the
engine's own cache keys by its config within it), so a new engine release,
revision or flag starts an empty directory instead of meeting artifacts
of another build. An entry the engine cannot load is the profile's
``compile_cache.on_bad_entry`` (vLLM compiles again).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from modelfleet.api import LLMDeployment, LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.engines import EngineProfile, cache_layout

from .checkpoint import checkpoint_gib
from .labels import CACHE, metadata
from .names import cache_claim_name
from .resources import shm_gib

CACHE_VOLUME = "cache"
SHM_VOLUME = "shm"
RUNTIME_TMP_VOLUME = "runtime-tmp"
SCRATCH_VOLUME = "scratch"
COMPILE_CACHE_VOLUME = "compile-cache"
COMPILE_CACHE_SUBDIR = "modelfleet-compile"  # in the pvc mode's claim, beside the hub cache
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


def node_cache_dir(resource: LLMDeployment, settings: OperatorSettings) -> str:
    """The node directory of the LLMDeployment's weights (nodeLocal): the shared one for public weights, its
    namespace's own for weights fetched with a token."""
    if resource.spec.model.token_secret_ref is None:
        return settings.node_cache_path
    namespace = resource.metadata.get("namespace") or "default"  # no namespace outside a cluster (modelfleet render)
    return f"{settings.node_private_cache_path}/{namespace}"


def cache_volume(resource: LLMDeployment, plan: Plan, settings: OperatorSettings) -> dict[str, Any]:
    spec = resource.spec
    if spec.cache.mode == "pvc":
        source = {"persistentVolumeClaim": {"claimName": cache_claim_name(resource.metadata["name"])}}
    elif spec.cache.mode == "nodeLocal":
        source = {"hostPath": {"path": node_cache_dir(resource, settings), "type": "DirectoryOrCreate"}}
    else:
        source = {"emptyDir": {"sizeLimit": cache_size(spec, plan)}}
    return {"name": CACHE_VOLUME, **source}


def engine_cache_mount(spec: LLMDeploymentSpec) -> dict[str, Any]:
    """The engine's one mount of the weights cache: its model's directory of the hub cache, read-only, at the path
    it has in the whole cache (``cache_layout.engine_weights_mount`` cites what the engines read offline).

    Every cache mode, not only nodeLocal: one rule, and the pvc claim also holds the compile cache, which the
    engine mounts on its own (``compile_cache_mount``). The directory exists when the engine starts: the
    pre-pull, an init container, has made it."""
    sub_path, mount_path = cache_layout.engine_weights_mount(spec.model.id)
    return {"name": CACHE_VOLUME, "mountPath": mount_path, "subPath": sub_path, "readOnly": True}


def compile_cache_key(spec: LLMDeploymentSpec, image: str, args: list[str]) -> str:
    """What the compiled graph depends on, as a short digest: engine image, model, revision, flags."""
    canonical = json.dumps([image, spec.model.id, spec.model.revision, args])
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def compile_cache_shared(spec: LLMDeploymentSpec, engine: EngineProfile) -> bool:
    return engine.compile_cache is not None and spec.cache.compile_cache and spec.cache.mode != "none"


def compile_cache_volume(resource: LLMDeployment, engine: EngineProfile, settings: OperatorSettings,
                         key: str) -> dict[str, Any] | None:
    """The node directory of this object's compile cache (nodeLocal); None when the claim holds it or none is
    shared."""
    spec = resource.spec
    if not compile_cache_shared(spec, engine) or spec.cache.mode != "nodeLocal":
        return None
    meta = resource.metadata
    owner = meta.get("uid") or meta["name"]  # no UID outside a cluster (modelfleet render)
    path = f"{settings.node_compile_cache_path}/{meta.get('namespace') or 'default'}/{owner}/{key}"
    return {"name": COMPILE_CACHE_VOLUME, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


def compile_cache_mount(spec: LLMDeploymentSpec, engine: EngineProfile, key: str) -> dict[str, Any] | None:
    """The engine's compile directory, mounted from this object's compile cache; None when none is shared."""
    if engine.compile_cache is None or not compile_cache_shared(spec, engine):
        return None
    path = dict(engine.env)[engine.compile_cache.env]
    if spec.cache.mode == "pvc":
        return {"name": CACHE_VOLUME, "mountPath": path, "subPath": f"{COMPILE_CACHE_SUBDIR}/{key}"}
    return {"name": COMPILE_CACHE_VOLUME, "mountPath": path}


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
