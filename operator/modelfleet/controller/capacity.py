"""The closed loop on KV capacity: what a Ready engine really got, against the plan.

Each round of the autoscaling loop, for every LLMDeployment with a plan and
a Ready replica, the first Ready pod (by name) is scraped once; the KV cache
it reports (``autoscale.scrape.kv_capacity_tokens``) is judged against the
plan and the spec (``sizing.judge_capacity``, pure) and written to
``status.kvCapacity`` with the ``KVCacheSufficient`` condition. A Warning
event goes out when the condition turns False (by how much, what to change),
a Normal one when it turns True again. Both numbers are Prometheus gauges.
A scrape that fails or reports no capacity yet changes nothing. An engine
whose pinned release never reports it (the profile's
``kv_tokens_unreported``: TGI 3.3.7) gets the condition Unknown,
``KVCapacityNotReported``, with the reason, and ``kvCapacity.source`` "none":
the missing figure is said, never left silent. With the warm-up sidecar on,
the same replica's ``/ready`` gives what its warm-up measured
(``status.warmup``: requests, failures, the long prompt, the experts reached
or why the engine could not tell).

A plan is measured until its KV cache is found sufficient (or known to be
unreported), then left alone:
the engine sizes its cache once, at start, so a healthy fleet costs no pod
list and no scrape per round (200 fleets would otherwise add 200 reads every
round). A short one is measured every round, so its recovery is seen; a new
plan (the reconcile drops the old measurement) is measured afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from modelfleet.api import InvalidSpec, LLMDeploymentStatus, Plan, WarmupMeasured, parse_llmdeployment
from modelfleet.api.spec import EngineKind
from modelfleet.autoscale.scrape import DEFAULT_TIMEOUT_S, ScrapeTarget, scrape_replica
from modelfleet.autoscale.warmup_report import warmup_measured
from modelfleet.engines import profile_for
from modelfleet.engines.metrics import metrics_for
from modelfleet.render.runtime_containers import warmup_enabled
from modelfleet.sizing import (
    KV_CAPACITY_CONDITION,
    KV_CAPACITY_NOT_REPORTED,
    CapacityVerdict,
    judge_capacity,
    unreported_capacity,
)

from . import metrics
from .autoscaler import Autoscaler
from .status import read_status


@dataclass(frozen=True)
class Measurement:
    verdict: CapacityVerdict
    generation: int
    plan: Plan  # the plan the verdict judged
    warmup: WarmupMeasured | None = None  # what the same replica's warm-up sidecar says it measured


async def measure(autoscaler: Autoscaler, body: dict[str, Any], session: aiohttp.ClientSession | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Measurement | None:
    """Scrape one Ready replica and judge its KV cache; None when there is nothing to judge (yet)."""
    status = read_status(body.get("status"))
    if status.plan is None or (status.kv_capacity is not None and _settled(status)):
        return None
    try:
        resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
    except InvalidSpec:
        return None
    pods = sorted(autoscaler.ready_pods(resource), key=lambda p: p["metadata"]["name"])
    if not pods:
        return None
    target = autoscaler.resolve(pods[0])
    names = metrics_for(resource.spec.engine.kind)
    async with _client(session) as client:
        observation = await scrape_replica(client, target, names, timeout_s)
        warmup = None
        if warmup_enabled(resource.spec, status.plan) and target.warmup_url:
            warmup = await _read_warmup(client, target, resource.spec.engine.kind, timeout_s)
    load = observation.load
    if load is None:  # missing: the next round tries again
        return None
    if load.kv_capacity_tokens is None:
        if not names.kv_tokens_unreported:
            return None  # not sized yet
        verdict = unreported_capacity(resource.spec, status.plan, names.kv_tokens_unreported, target.name)
    else:
        verdict = judge_capacity(resource.spec, status.plan, load.kv_capacity_tokens, target.name,
                                 source=load.kv_capacity_source or "")
    return Measurement(verdict, body["metadata"].get("generation", 0), status.plan, warmup)


@contextlib.asynccontextmanager
async def _client(session: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    """The loop's session, or one of our own for this measurement."""
    if session is not None:
        yield session
        return
    async with aiohttp.ClientSession() as own:
        yield own


async def _read_warmup(client: aiohttp.ClientSession, target: ScrapeTarget, kind: EngineKind,
                       timeout_s: float) -> WarmupMeasured | None:
    """The replica's warm-up summary (its sidecar's ``/ready``); None when it cannot be read."""
    url = f"{target.warmup_url}/ready"
    try:
        async with client.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            body = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
    return warmup_measured(body, target.name, profile_for(kind))


def _settled(status: LLMDeploymentStatus) -> bool:
    """Found sufficient, or known to be unreported by the engine: nothing more to learn from it."""
    return any(c.type == KV_CAPACITY_CONDITION and (c.status == "True" or c.reason == KV_CAPACITY_NOT_REPORTED)
               for c in status.conditions)


def transition_event(previous: LLMDeploymentStatus, verdict: CapacityVerdict) -> tuple[str, str, str] | None:
    """(type, reason, message) when the condition's status changes; None when it stays."""
    before = next((c for c in previous.conditions if c.type == KV_CAPACITY_CONDITION), None)
    status = verdict.condition_status
    if before is not None and before.status == status:
        return None
    if verdict.sufficient and before is None:
        return None  # first measurement and all is well: nothing to tell a person
    return ("Warning" if verdict.sufficient is False else "Normal"), verdict.reason, verdict.message


def record_metrics(body: dict[str, Any], verdict: CapacityVerdict) -> None:
    labels = (body["metadata"]["namespace"], body["metadata"]["name"])
    capacity = verdict.capacity
    metrics.KV_CAPACITY_TOKENS.labels(*labels, "planned").set(capacity.planned_tokens)
    metrics.KV_CAPACITY_SEQUENCES.labels(*labels, "planned").set(capacity.planned_sequences)
    for gauge, measured in ((metrics.KV_CAPACITY_TOKENS, capacity.measured_tokens),
                            (metrics.KV_CAPACITY_SEQUENCES, capacity.measured_sequences)):
        if measured is not None:
            gauge.labels(*labels, "measured").set(measured)
        else:  # no figure: no series, rather than a stale one or a zero
            with contextlib.suppress(KeyError):
                gauge.remove(*labels, "measured")
