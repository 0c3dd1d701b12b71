"""The operator's two loops beside kopf's watches: resync everything; autoscale and measure KV capacity.

Started by the startup handler; each round survives any one failure.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from .actions import list_llmdeployments, reconcile_named, record_capacity, record_decision
from .autoscaler import Autoscaler
from .capacity import measure
from .config import ProcessConfig
from .kube import Kube


async def resync_forever(kube: Kube, config: ProcessConfig, logger: logging.Logger) -> None:
    while True:
        await asyncio.sleep(config.resync_seconds)
        try:
            await asyncio.to_thread(_resync_all, kube, config)
        except Exception:  # the loop must outlive any one failure; the next round retries
            logger.exception("resync failed")


async def autoscale_forever(autoscaler: Autoscaler, config: ProcessConfig, logger: logging.Logger) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(config.autoscale_seconds)
            items = await asyncio.to_thread(list_llmdeployments, autoscaler.kube)
            for body in items:
                try:
                    decision = await autoscaler.decide(body, session)
                    if decision is not None:
                        await asyncio.to_thread(record_decision, autoscaler.kube, body, decision)
                except Exception:  # one fleet's failure must not stop the others' scaling
                    logger.exception("autoscaling %s/%s failed", body["metadata"]["namespace"], body["metadata"]["name"])
                try:
                    measurement = await measure(autoscaler, body, session)
                    if measurement is not None:
                        await asyncio.to_thread(record_capacity, autoscaler.kube, body, measurement)
                except Exception:  # a failed measurement only leaves the last one in place
                    logger.exception("measuring the KV cache of %s/%s failed", body["metadata"]["namespace"],
                                     body["metadata"]["name"])


def _resync_all(kube: Kube, config: ProcessConfig) -> None:
    for item in list_llmdeployments(kube):
        reconcile_named(kube, config, item["metadata"]["namespace"], item["metadata"]["name"])
