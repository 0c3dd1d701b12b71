"""The closed loop on KV capacity: what a Ready engine really got, against the plan (the measuring step).

Each round of the autoscaling loop, for every LLMDeployment with a plan and
a Ready replica, the first Ready pod (by name) is scraped once; the KV cache
it reports (``autoscale.scrape.kv_capacity_tokens``) is judged against the
plan and the spec (``sizing.judge_capacity``, pure); the LLMDeployment's
worker writes the verdict (``decide.capacity``, under the capacity loop's own
field manager) to ``status.kvCapacity`` with the ``KVCacheSufficient``
condition. A Warning
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
plan (whose reconcile removes the old measurement: ``decide.capacity.standing``)
is measured afresh.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from modelfleet.api import LLMDeployment, WarmupMeasured
from modelfleet.api.spec import EngineKind
from modelfleet.autoscale.scrape import DEFAULT_TIMEOUT_S, ScrapeTarget, scrape_replica
from modelfleet.autoscale.warmup_report import warmup_measured
from modelfleet.engines import profile_for
from modelfleet.engines.metrics import metrics_for
from modelfleet.render.runtime_containers import warmup_enabled
from modelfleet.sizing import CapacityVerdict, judge_capacity, unreported_capacity

from . import metrics
from .autoscaler import TargetResolver, pod_target
from .decide import Ref, Snapshot
from .decide.capacity import Measurement, settled
from .decide.pods import ready_pods


async def measure(snapshot: Snapshot, resolve: TargetResolver = pod_target,
                  session: aiohttp.ClientSession | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Measurement | None:
    """Scrape one Ready replica and judge its KV cache; None when there is nothing to judge (yet)."""
    status, resource = snapshot.status, snapshot.resource
    if status.plan is None or (status.kv_capacity is not None and settled(status)):
        return None
    if not isinstance(resource, LLMDeployment):
        return None
    pods = sorted(ready_pods(snapshot.pods), key=lambda p: p["metadata"]["name"])
    if not pods:
        return None
    target = resolve(pods[0])
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
    return Measurement(verdict, snapshot.ref.generation, status.plan, warmup)


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


def record_metrics(ref: Ref, verdict: CapacityVerdict) -> None:
    labels = (ref.namespace, ref.name)
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
