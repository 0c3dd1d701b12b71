"""Tell kopf that an API group's resources changed, when the operator's own discovery saw it first.

kopf watches CRDs and, on each CRD event, asks discovery which resources
the CRD's group serves, then starts or stops the watches of its handlers
(``_core/reactor/observation.py``). For a CRD created under a running
operator that answer can come too early: the CRD's events (added, names
accepted, established) arrive before the API server's discovery serves the
new group, so kopf finds nothing, and no later CRD event makes it look
again. Measured on the local control plane (kube-apiserver 1.34, kopf 1.45):
the Inference Extension's CRDs installed at 04:20:00, seven rescans by kopf
within 0.3 s all found no ``inferencepools``, and its watch started only at
the next CRD change, a minute later; meanwhile a deleted InferencePool was
not put back.

So when ``controller/discovery.py`` sees the group come or go, it has kopf
look at that group again, exactly as kopf does on a CRD event
(``process_discovered_resource_event``). That function and ``Insights`` are
kopf's internals (kopf is pinned below 1.46 in pyproject.toml):
``tests/unit/test_inference_pool.py`` runs this against kopf's own code.
"""

from __future__ import annotations

from typing import Any, cast

import kopf
from kopf._cogs.structs import bodies, references
from kopf._core.intents import registries
from kopf._core.reactor import observation

# What kopf knows of the cluster's resources: created here and handed to kopf.run (operator.py), so that
# a rescan revises the very insights kopf's orchestrator spawns and stops watches from.
INSIGHTS = references.Insights()


async def rescan(group: str, settings: kopf.OperatorSettings, insights: references.Insights = INSIGHTS) -> None:
    """Have kopf ask discovery about ``group`` again and start (or stop) the watches of its resources."""
    event: dict[str, Any] = {"type": "MODIFIED", "object": {"spec": {"group": group}}}
    await observation.process_discovered_resource_event(
        raw_event=cast(bodies.RawEvent, event), settings=settings,
        registry=registries.get_default_registry(), insights=insights)
