"""How many engine replicas are asked for now (pure): what the Deployment is rendered with, and what the
autoscaling policy starts from."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentSpec


def desired_replicas(spec: LLMDeploymentSpec, decided: int | None, deployment: dict[str, Any] | None) -> int:
    """spec.replicas rules unless the autoscaler is on; then its last decision (``status.desiredReplicas``),
    within bounds. Before its first decision, what the Deployment was last given: a fleet that turns
    autoscaling on keeps its size until the autoscaler has looked (the reconcile no longer writes
    desiredReplicas then, so the stored one goes), and a new one starts at minReplicas, or at one replica
    when that is 0 (a new fleet proves its model loads and serves; the idle window then takes it to zero).
    A decision of 0 (scaled to zero) is a decision, not its absence."""
    if not spec.autoscaling.enabled:
        return spec.replicas
    bounds = spec.autoscaling
    if decided is not None:
        return max(bounds.min_replicas, min(bounds.max_replicas, decided))
    running = ((deployment or {}).get("spec") or {}).get("replicas")
    asked = running if isinstance(running, int) else max(1, bounds.min_replicas)
    return max(bounds.min_replicas, min(bounds.max_replicas, asked))
