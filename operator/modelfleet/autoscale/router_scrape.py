"""Scrape the routers' ``/metrics`` (their admin port): the requests they hold and their last wake.

A fleet scaled to zero has no engine to scrape; the routers in front of it do
exist, and hold the requests that arrive meanwhile
(``modelfleet_router_held_requests``, ``runtime/router/metrics.py``). Their sum
is what wakes the fleet. A router that cannot be read makes the count unknown
(``held`` None), never zero: the policy then neither leaves a fleet at zero nor
takes one there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .observations import RouterReading
from .scrape import MAX_BODY_BYTES, ScrapeTarget, read_limited

HELD = "modelfleet_router_held_requests"
WAKE_WAIT = "modelfleet_router_last_wake_wait_seconds"
WAKE_TIME = "modelfleet_router_last_wake_timestamp_seconds"


@dataclass(frozen=True)
class OneRouter:
    held: float
    wake_time: float
    wake_wait_seconds: float


def parse_router_metrics(text: str) -> OneRouter:
    """One router's exposition; ValueError when the held gauge is not in it."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (HELD, WAKE_WAIT, WAKE_TIME):
                values[sample.name] = sample.value
    if HELD not in values:
        raise ValueError(f"no {HELD} series in the metrics")
    return OneRouter(values[HELD], values.get(WAKE_TIME, 0.0), values.get(WAKE_WAIT, 0.0))


async def scrape_router(session: aiohttp.ClientSession, target: ScrapeTarget, timeout_s: float) -> OneRouter | str:
    """One router's reading, or why there is none."""
    url = target.url.rstrip("/") + "/metrics"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status != 200:
                return f"{target.name}: GET {url}: HTTP {response.status}"
            body = await read_limited(response.content)
    except TimeoutError:
        return f"{target.name}: GET {url}: no answer within {timeout_s:g} s"
    except aiohttp.ClientError as exc:
        return f"{target.name}: GET {url}: {exc.__class__.__name__}: {exc}"
    if len(body) > MAX_BODY_BYTES:
        return f"{target.name}: GET {url}: body larger than {MAX_BODY_BYTES} bytes"
    try:
        return parse_router_metrics(body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        return f"{target.name}: GET {url}: {exc}"


def combine(readings: Sequence[OneRouter | str]) -> RouterReading:
    """The fleet's reading: held summed (unknown if any router is), the newest wake of any router."""
    if not readings:
        return RouterReading(held=None, error="no router pod is ready")
    failures = [r for r in readings if isinstance(r, str)]
    routers = [r for r in readings if isinstance(r, OneRouter)]
    woken = [r for r in routers if r.wake_time > 0]
    newest = max(woken, key=lambda r: r.wake_time) if woken else None
    return RouterReading(
        held=None if failures else sum(r.held for r in routers),
        wake_time=rfc3339(newest.wake_time) if newest else None,
        wake_wait_seconds=newest.wake_wait_seconds if newest else None,
        error="; ".join(failures) or None,
    )


def rfc3339(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def scrape_routers(session: aiohttp.ClientSession, targets: Sequence[ScrapeTarget],
                         timeout_s: float) -> RouterReading:
    """Every ready router at once, each bounded by ``timeout_s``."""
    return combine(await asyncio.gather(*(scrape_router(session, t, timeout_s) for t in targets)))
