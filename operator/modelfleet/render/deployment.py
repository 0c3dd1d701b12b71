"""The engine Deployment: one replica is one pod with the plan's GPUs.

The replica count is not in the pod template and not in its hash: the
autoscaler and ``kubectl scale`` change it without rolling a single pod.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from modelfleet.api import LLMDeployment, OperatorSettings, Plan
from modelfleet.engines import profile_for

from . import security, termination
from .cache import (
    cache_volume,
    compile_cache_mount,
    compile_cache_volume,
    runtime_tmp_volume,
    scratch_volume,
    shm_volume,
)
from .checkpoint import download_seconds
from .engine_container import CONTAINER_NAME, compile_key, engine_container
from .labels import ENGINE, POD_SPEC_HASH_ANNOTATION, labels, metadata, selector_labels
from .names import deployment_name
from .probes import startup_budget_seconds
from .runtime_containers import init_containers, warmup_enabled
from .scheduling import pod_placement, spread_over_nodes

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


def engine_pod_spec(resource: LLMDeployment, plan: Plan, settings: OperatorSettings,
                    restricted: bool = False) -> dict[str, Any]:
    spec = resource.spec
    engine = profile_for(spec.engine.kind)
    volumes = [cache_volume(resource, plan, settings), shm_volume(plan), runtime_tmp_volume(), scratch_volume()]
    key = compile_key(spec, plan, engine, settings)
    compile_cache = compile_cache_volume(resource, engine, settings, key)
    compile_mount = compile_cache_mount(spec, engine, key)
    return {
        # Service links would put one variable per Service of the namespace
        # into the engine; a Service named "vllm" sets VLLM_PORT, which vLLM
        # reads as its own setting and fails on.
        "enableServiceLinks": False,
        # Nothing in the pod talks to the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": security.pod_security_context(),
        "terminationGracePeriodSeconds": termination.grace_period_seconds(plan),
        **pod_placement(spec, plan, spec.placement.affinity),
        "topologySpreadConstraints": spread_over_nodes(resource.metadata["name"]),
        "initContainers": init_containers(spec, plan, engine, settings, compile_mount, restricted),
        "containers": [engine_container(spec, plan, engine, settings, compile_mount)],
        "volumes": volumes + ([compile_cache] if compile_cache else []),
    }


def pod_template(resource: LLMDeployment, plan: Plan, settings: OperatorSettings,
                 restricted: bool = False) -> dict[str, Any]:
    """The pod template, its hash annotation included."""
    template = {
        "metadata": {
            "labels": labels(resource, ENGINE),
            "annotations": {DEFAULT_CONTAINER_ANNOTATION: CONTAINER_NAME},
        },
        "spec": engine_pod_spec(resource, plan, settings, restricted),
    }
    template["metadata"]["annotations"][POD_SPEC_HASH_ANNOTATION] = pod_spec_hash(template)
    return template


def pod_spec_hash(template: dict[str, Any]) -> str:
    """A short, stable digest of a pod template (without its own hash annotation)."""
    metadata = template["metadata"]
    annotations = {k: v for k, v in metadata.get("annotations", {}).items() if k != POD_SPEC_HASH_ANNOTATION}
    canonical = json.dumps({**template, "metadata": {**metadata, "annotations": annotations}}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def progress_deadline_seconds(resource: LLMDeployment, plan: Plan) -> int:
    """How long a new replica may take before the rollout counts as stuck.

    The download (with an empty cache), the engine's start-up budget and the
    warm-up's own timeout: past their sum, something is wrong.
    """
    spec = resource.spec
    warmup = spec.warmup.timeout_seconds if warmup_enabled(spec, plan) else 0
    return download_seconds(spec, plan) + startup_budget_seconds(spec, plan) + warmup


def deployment(resource: LLMDeployment, plan: Plan, settings: OperatorSettings, replicas: int,
               restricted: bool = False) -> dict[str, Any]:
    name = resource.metadata["name"]
    template = pod_template(resource, plan, settings, restricted)
    meta = metadata(resource, deployment_name(name), ENGINE)
    meta["annotations"] = {POD_SPEC_HASH_ANNOTATION: template["metadata"]["annotations"][POD_SPEC_HASH_ANNOTATION]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": progress_deadline_seconds(resource, plan),
            "selector": {"matchLabels": selector_labels(name)},
            "strategy": rollout_strategy(resource),
            "template": template,
        },
    }


def rollout_strategy(resource: LLMDeployment) -> dict[str, Any]:
    """By default a new replica first, then an old one goes: serving capacity never dips during a rollout,
    but it needs one replica's GPUs spare. ``rollout.replaceInPlace`` trades one replica down at a time for
    a rollout that completes on a full pool."""
    if resource.spec.rollout.replace_in_place:
        return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
