"""One autoscaling step, as the operator's autoscaling loop runs it: scrape the ready replicas, then decide.

The loop (``controller.loops`` and ``controller.autoscaler``) owns the clock,
the ready pods (from the watch-fed cache) and a ``PolicyState`` per
LLMDeployment kept in memory; this module owns neither, so it runs the same
against a test server as against a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import aiohttp

from modelfleet.api.spec import EngineKind

from .observations import RouterReading
from .policy import Decision, FleetSnapshot, PolicySettings, PolicyState, decide
from .router_scrape import scrape_routers
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
    routers: Sequence[ScrapeTarget] | None = None,
) -> Decision:
    """Scrape every ready replica (and the routers, when ``routers`` is given) at once and decide the replica
    count.

    ``replicas``: the count asked for now (ready or starting); ``ready``: one
    target per Ready pod; ``routers``: one target per ready router pod (its admin port), for a fleet that
    may scale to zero (None: the routers are not read, and nothing counts as held); ``now``: a monotonic
    clock in seconds. Store the returned ``decision.state`` and pass it to the next call.
    """
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await evaluate(kind, settings, replicas=replicas, ready=ready, state=state, now=now,
                                  timeout_s=timeout_s, session=own_session, routers=routers)
    engines = scrape_fleet(kind, ready, timeout_s=timeout_s, session=session)
    if routers is None:
        observations, reading = await engines, None
    else:
        observations, reading = await asyncio.gather(engines, scrape_routers(session, routers, timeout_s))
    snapshot = FleetSnapshot(replicas=replicas, ready=len(ready), observations=observations,
                             held=0.0 if reading is None else reading.held,
                             routers_ready=None if routers is None else len(routers))
    return with_router(decide(settings, snapshot, state, now), reading)


def with_router(decision: Decision, reading: RouterReading | None) -> Decision:
    return decision if reading is None else replace(decision, router=reading)
