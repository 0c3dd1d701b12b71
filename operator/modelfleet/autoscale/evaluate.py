"""One autoscaling step, as the operator's autoscaling loop runs it: scrape the ready replicas, then decide.

The loop (``controller.loops`` and ``controller.autoscaler``) owns the clock,
the ready pods (from the watch-fed cache) and a ``PolicyState`` per
LLMDeployment kept in memory; this module owns neither, so it runs the same
against a test server as against a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from modelfleet.api.spec import EngineKind

from .policy import Decision, FleetSnapshot, PolicySettings, PolicyState, decide
from .scrape import DEFAULT_TIMEOUT_S, ScrapeTarget, scrape_fleet


async def evaluate(
    kind: EngineKind,
    settings: PolicySettings,
    *,
    replicas: int,
    ready: Sequence[ScrapeTarget],
    state: PolicyState,
    now: float,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    session: aiohttp.ClientSession | None = None,
) -> Decision:
    """Scrape every ready replica at once and decide the replica count.

    ``replicas``: the count asked for now (ready or starting); ``ready``: one
    target per Ready pod; ``now``: a monotonic clock in seconds. Store the
    returned ``decision.state`` and pass it to the next call.
    """
    observations = await scrape_fleet(kind, ready, timeout_s=timeout_s, session=session)
    snapshot = FleetSnapshot(replicas=replicas, ready=len(ready), observations=observations)
    return decide(settings, snapshot, state, now)
