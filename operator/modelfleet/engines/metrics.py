"""Per-engine metric names (``EngineProfile.metrics``): the Prometheus series each engine exposes.

The names and their sources are in each engine's profile module (``vllm``, ``tgi``).
"""

from __future__ import annotations

from modelfleet.api.spec import EngineKind

from . import profile_for
from .profile import EngineMetrics


def metrics_for(kind: EngineKind) -> EngineMetrics:
    return profile_for(kind).metrics


__all__ = ["EngineMetrics", "metrics_for"]
