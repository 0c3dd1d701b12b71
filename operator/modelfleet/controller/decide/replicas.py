"""How many engine replicas are asked for now (pure): what the Deployment is rendered with, and what the
autoscaling policy starts from."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentSpec


def desired_replicas(spec: LLMDeploymentSpec, decided: int | None, deployment: dict[str, Any] | None) -> int:
    """spec.replicas rules unless the autoscaler is on; then its last decision (``status.desiredReplicas``),
    within bounds. Before its first decision, what the Deployment was last given: a fleet that turns
    autoscaling on keeps its size until the autoscaler has looked (the reconcile no longer writes
    desiredReplicas then, so the stored one goes), and a new one starts at minReplicas."""
    if not spec.autoscaling.enabled:
        return spec.replicas
    running = ((deployment or {}).get("spec") or {}).get("replicas")
    asked = decided or (running if isinstance(running, int) else None) or spec.autoscaling.min_replicas
    return max(spec.autoscaling.min_replicas, min(spec.autoscaling.max_replicas, asked))
