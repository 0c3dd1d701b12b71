"""The engine container: the inference server itself."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.engines import EngineProfile, cache_layout

from . import probes, security, termination
from .cache import CACHE_VOLUME, SHM_VOLUME, disk_cache_size
from .engine_args import engine_args, engine_image
from .resources import engine_resources

CONTAINER_NAME = "engine"


def engine_container(
    spec: LLMDeploymentSpec, plan: Plan, engine: EngineProfile, settings: OperatorSettings
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": CONTAINER_NAME, "image": engine_image(spec, engine, settings),
                                 "imagePullPolicy": "IfNotPresent"}
    if engine.command:
        container["command"] = list(engine.command)
    container.update(
        {
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
                {"name": CACHE_VOLUME, "mountPath": cache_layout.MOUNT_PATH},
                {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
            ],
        }
    )
    return container


def engine_env(spec: LLMDeploymentSpec, engine: EngineProfile) -> list[dict[str, Any]]:
    """The engine's own variables, then the user's; a user variable of the same name replaces ours.

    Names must be unique: server-side apply treats ``env`` as a map keyed by
    name and refuses duplicates.
    """
    merged = dict(engine.env)
    merged.update((var.name, var.value) for var in spec.engine.env)
    return [{"name": name, "value": value} for name, value in merged.items()]
