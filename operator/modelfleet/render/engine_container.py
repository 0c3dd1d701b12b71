"""The engine container: the inference server itself.

It reads the weights cache and never writes it, and sees only its own
model's part of it: the model's directory of the hub cache, mounted
read-only (in nodeLocal mode the cache is one directory shared by every
namespace's public models on the node, and the engine's image is the
user's: ``cache.engine_cache_mount``). What the engine writes goes to the
pod's own ``scratch`` emptyDir (``engines.cache_layout``),
but for its compile directory, which is its LLMDeployment's compile cache
when one is shared (``cache.compile_cache_mount``).
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.api.spec import OPERATOR_ENV
from modelfleet.engines import EngineProfile, cache_layout

from . import probes, security, termination
from .cache import SCRATCH_VOLUME, SHM_VOLUME, compile_cache_key, disk_cache_size, engine_cache_mount
from .engine_args import engine_args, engine_image
from .resources import engine_resources

CONTAINER_NAME = "engine"


def engine_container(
    spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile, settings: OperatorSettings,
    compile_mount: dict[str, Any] | None,
) -> dict[str, Any]:
    """``compile_mount``: the LLMDeployment's compile cache over the engine's compile directory, None when it keeps
    none (``cache.compile_cache_mount``)."""
    container: dict[str, Any] = {"name": CONTAINER_NAME, "image": engine_image(spec, engine, settings),
                                 "imagePullPolicy": "IfNotPresent"}
    if engine.command:
        container["command"] = list(engine.command)
    container.update(
        {
            # A directory the engine's user may write: TGI's router converts the tokenizer into ./out
            # (router/src/server.rs, py_resolve_tokenizer), and in its image's /usr/src, as a non-root user, it
            # could not, and fell back to a tokenizer without offsets (its /tokenize answered 0..0 spans).
            "workingDir": cache_layout.SCRATCH_PATH,
            "args": engine_args(spec, plan, engine),
            "env": engine_env(spec, engine),
            "ports": [{"name": probes.PORT_NAME, "containerPort": engine.port, "protocol": "TCP"}],
            "resources": engine_resources(plan, disk_cache_size(spec, plan)),
            "startupProbe": probes.startup_probe(engine, spec, plan),
            "readinessProbe": probes.readiness_probe(engine),
            "livenessProbe": probes.liveness_probe(engine),
            "lifecycle": termination.lifecycle(plan),
            "securityContext": security.engine(),
            "volumeMounts": [
                engine_cache_mount(spec),
                {"name": SCRATCH_VOLUME, "mountPath": cache_layout.SCRATCH_PATH},
                {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
            ],
        }
    )
    if compile_mount is not None:  # after the scratch mount it sits in
        container["volumeMounts"].append(compile_mount)
    return container


def compile_key(spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile, settings: OperatorSettings) -> str:
    """The compile cache's key for this engine container (``cache.compile_cache_key``)."""
    return compile_cache_key(spec, engine_image(spec, engine, settings), engine_args(spec, plan, engine))


def engine_env(spec: LLMDeploymentSpec, engine: EngineProfile) -> list[dict[str, Any]]:
    """The engine's own variables, then the user's.

    The API refuses user variables the operator owns (``OPERATOR_ENV``, with
    the reason); should one reach here anyway (an object stored before that
    rule), ours stay: the engine must read the pre-pulled cache offline.
    Names are unique: server-side apply treats ``env`` as a map keyed by name
    and refuses duplicates.
    """
    merged = dict(engine.env)
    for var in spec.engine.env:
        if var.name not in OPERATOR_ENV and var.name not in merged:
            merged[var.name] = var.value
    return [{"name": name, "value": value} for name, value in merged.items()]
