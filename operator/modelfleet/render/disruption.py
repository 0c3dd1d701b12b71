"""The PodDisruptionBudget of the engine pods: drains take one replica at a time.

``maxUnavailable: 1`` rather than a ``minAvailable``:

- It holds whatever the replica count, which the autoscaler changes all the
  time; a minAvailable would have to follow it.
- It never blocks a drain for good. ``minAvailable: 1`` with one replica
  (the common case for an expensive model) allows no eviction at all, and a
  node upgrade hangs until a person deletes the pod. With maxUnavailable 1 a
  single-replica deployment does go down during a drain; keeping serving
  through one means running two replicas.
- ``unhealthyPodEvictionPolicy: AlwaysAllow``: a replica that is not Ready
  (still loading, or crash-looping) serves nothing, so evicting it costs
  nothing and must not use up the budget of the healthy ones.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeployment

from .labels import ENGINE, metadata, selector_labels
from .names import disruption_budget_name


def disruption_budget(resource: LLMDeployment, component: str = ENGINE,
                      name: str | None = None) -> dict[str, Any]:
    """The budget of one component's pods (the engines', or the router's), named ``name`` (default: the
    LLMDeployment's)."""
    owner = resource.metadata["name"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(resource, name or disruption_budget_name(owner), component),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(owner, component)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
