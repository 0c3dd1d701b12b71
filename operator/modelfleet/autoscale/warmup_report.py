"""What a replica's warm-up sidecar says it measured (its ``GET /ready`` body), as status shows it (pure).

The sidecar (``runtime.warmup``) answers ``/ready`` with ``{"phase", "last_warmup"}``, the second being
the JSON summary it also logs (``runtime.warmup.summarise``). The operator reads it with the KV capacity,
once per plan, and writes ``status.warmup``; the experts line says how many (layer, expert) pairs the
requests reached, or, when the engine reported no routing, why (the engine profile's ``routed_experts``).
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import WarmupMeasured
from modelfleet.engines import EngineProfile


def warmup_measured(ready_body: Any, replica: str, engine: EngineProfile) -> WarmupMeasured | None:
    """``status.warmup`` from a ``/ready`` body; None when it holds no finished warm-up (or is not one)."""
    summary = ready_body.get("last_warmup") if isinstance(ready_body, dict) else None
    if not isinstance(summary, dict):
        return None
    try:
        return WarmupMeasured(
            replica=replica,
            outcome=str(summary["outcome"]),
            requests=int(summary["requests"]),
            failed=int(summary["failed"]),
            duration_seconds=float(summary["duration_s"]),
            long_prompt_tokens=summary.get("long_prompt_tokens"),
            experts=_experts(summary.get("experts"), engine),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _experts(coverage: Any, engine: EngineProfile) -> str:
    if not isinstance(coverage, dict) or not coverage.get("layers"):
        return (f"not measured: {engine.routed_experts}; the warm-up sent every speciality's prompts at every "
                "batch size instead")
    reached = coverage.get("pairs_hit")
    total = coverage.get("pairs")
    of = f" of {total}" if total is not None else ""
    return f"{reached}{of} (layer, expert) pairs reached in {coverage['layers']} layers"
