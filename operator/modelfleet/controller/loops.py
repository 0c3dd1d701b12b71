"""The operator's loops beside kopf's watches: the reconcile workers, the resync, autoscaling, and the wake
of fleets scaled to zero.

Started by the startup handler. Each survives any one failure: a reconcile
that raises is reported in its object's status and retried with a backoff
(``workqueue``) while the other objects go on.

Two kinds of work, two models: the event loop holds kopf's watches, the
queue and the engine scrapes (aiohttp), and sends the API server nothing;
every Kubernetes request the operator makes is sent from a worker thread
(``asyncio.to_thread``), on the synchronous client, by the one worker that
holds the object (docs/decisions.md says why the threads stay).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from modelfleet.api import LLMDeployment

from .autoscaler import Autoscaler
from .cache import ClusterCache
from .capacity import measure
from .config import ProcessConfig
from .decide import Snapshot
from .observe import LLMDEPLOYMENT_KIND, last_decided_zero, observe_cached
from .reconcile import Reconciler
from .workqueue import WorkQueue


async def reconcile_forever(queue: WorkQueue, reconciler: Reconciler,
                            logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """One worker: take a key, reconcile it in a thread, and let the queue know how it went."""
    while True:
        key = await queue.get()
        try:
            await asyncio.to_thread(reconciler.reconcile, *key)
            queue.succeeded(key)
        except Exception as exc:  # one object's failure must not stop the others
            delay = queue.failed(key)
            logger.exception("reconciling %s/%s failed; retrying in %g s", *key, delay)
            try:
                await asyncio.to_thread(reconciler.report_failure, *key, exc, delay)
            except Exception:
                logger.exception("reporting the failure of %s/%s failed", *key)
        finally:
            queue.done(key)


async def resync_forever(queue: WorkQueue, cache: ClusterCache, config: ProcessConfig) -> None:
    """Every object again, now and then: what no event announces (a Hub revision that moved) is seen too."""
    while True:
        await asyncio.sleep(config.resync_seconds)
        for key in cache.keys(LLMDEPLOYMENT_KIND):
            queue.add(key)


async def autoscale_forever(autoscaler: Autoscaler, reconciler: Reconciler, queue: WorkQueue, config: ProcessConfig,
                            logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Every round, each LLMDeployment: the scaling decision and the KV capacity measurement, posted to its inbox
    for its worker to write (the loop itself writes nothing)."""
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(config.autoscale_seconds)
            for key in reconciler.cache.keys(LLMDEPLOYMENT_KIND):
                snapshot = observe_cached(reconciler.cache, *key)
                if snapshot is None:
                    continue
                decision = measurement = None
                try:
                    decision = await autoscaler.decide(snapshot, session)
                except Exception:  # one fleet's failure must not stop the others' scaling
                    logger.exception("autoscaling %s/%s failed", *key)
                try:
                    measurement = await measure(snapshot, autoscaler.resolve, session)
                except Exception:  # a failed measurement only leaves the last one in place
                    logger.exception("measuring the KV cache of %s/%s failed", *key)
                if decision is not None or measurement is not None:
                    reconciler.inbox.post(key, decision, measurement)
                    queue.add(key, urgent=True)


async def wake_forever(autoscaler: Autoscaler, reconciler: Reconciler, queue: WorkQueue, config: ProcessConfig,
                       logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Every ``wake_seconds`` (1 s), the fleets at zero only: their routers' held count, so that the first request
    waits a cold start and not also up to a whole autoscaling round (15 s). A decision is posted only when it
    wakes the fleet; the autoscaling round does the rest as before."""
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(config.wake_seconds)
            for key in reconciler.cache.keys(LLMDEPLOYMENT_KIND):
                if not last_decided_zero(reconciler.cache, *key):
                    continue  # most fleets, every second: no snapshot (a spec parse) for them
                snapshot = observe_cached(reconciler.cache, *key)
                if snapshot is None or not at_zero(snapshot):
                    continue
                try:
                    decision = await autoscaler.decide(snapshot, session)
                except Exception:  # one fleet's failure must not stop the others' wake
                    logger.exception("waking %s/%s failed", *key)
                    continue
                if decision is not None and decision.changed:
                    reconciler.inbox.post(key, decision, None)
                    queue.add(key, urgent=True)


def at_zero(snapshot: Snapshot) -> bool:
    """An autoscaled fleet that may scale to zero and is there (its last decision was 0)."""
    resource = snapshot.resource
    return (snapshot.autoscaled and isinstance(resource, LLMDeployment) and resource.spec.autoscaling.min_replicas == 0
            and snapshot.status.desired_replicas == 0)
