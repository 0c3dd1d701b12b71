"""Where pods may run: the plan's pool, the user's placement, spread over nodes."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentSpec, Plan

from .labels import selector_labels

# NVIDIA's convention: GPU nodes carry an nvidia.com/gpu taint (any value),
# so that only pods that mean to be there land there.
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def node_selector(spec: LLMDeploymentSpec, plan: Plan) -> dict[str, str]:
    """The user's labels added to the pool's; the pool's win, so pods stay in the pool that was sized."""
    merged = {**spec.placement.node_selector, **plan.node_selector}
    return dict(sorted(merged.items()))


def tolerations(spec: LLMDeploymentSpec) -> list[dict[str, Any]]:
    extra = [t.to_wire() for t in spec.placement.tolerations]
    return [GPU_TOLERATION, *(t for t in extra if t != GPU_TOLERATION)]


def node_affinity(spec: LLMDeploymentSpec) -> dict[str, Any] | None:
    """Only the node part of the user's affinity: for pods that are per node, not per replica."""
    affinity = spec.placement.affinity or {}
    return {"nodeAffinity": affinity["nodeAffinity"]} if "nodeAffinity" in affinity else None


def spread_over_nodes(name: str) -> list[dict[str, Any]]:
    """Replicas prefer different nodes, so losing one node loses as few as possible.

    ScheduleAnyway: several replicas on one 8-GPU node beat a pending replica.
    ``matchLabelKeys: pod-template-hash`` counts only pods of the same
    revision, so a rollout spreads the new pods as well.
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(name)},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def pod_placement(spec: LLMDeploymentSpec, plan: Plan, affinity: dict[str, Any] | None) -> dict[str, Any]:
    """The pod spec fields that place a pod on the plan's nodes."""
    placement: dict[str, Any] = {"nodeSelector": node_selector(spec, plan), "tolerations": tolerations(spec)}
    if affinity:
        placement["affinity"] = affinity
    return placement
