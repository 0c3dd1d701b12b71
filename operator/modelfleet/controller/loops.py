"""The operator's loops beside kopf's watches: the reconcile workers, the resync, and autoscaling.

Started by the startup handler. Each survives any one failure: a reconcile
that raises is reported in its object's status and retried with a backoff
(``workqueue``) while the other objects go on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from .autoscaler import Autoscaler
from .cache import ClusterCache
from .capacity import measure
from .config import ProcessConfig
from .observe import LLMDEPLOYMENT_KIND
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


async def autoscale_forever(autoscaler: Autoscaler, reconciler: Reconciler, config: ProcessConfig,
                            logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(config.autoscale_seconds)
            for body in autoscaler.cache.all(LLMDEPLOYMENT_KIND):
                namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
                try:
                    decision = await autoscaler.decide(body, session)
                    if decision is not None:
                        await asyncio.to_thread(reconciler.record_decision, namespace, name, decision)
                except Exception:  # one fleet's failure must not stop the others' scaling
                    logger.exception("autoscaling %s/%s failed", namespace, name)
                try:
                    measurement = await measure(autoscaler, body, session)
                    if measurement is not None:
                        await asyncio.to_thread(reconciler.record_capacity, namespace, name, measurement)
                except Exception:  # a failed measurement only leaves the last one in place
                    logger.exception("measuring the KV cache of %s/%s failed", namespace, name)
