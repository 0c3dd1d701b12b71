"""Which optional APIs the API server serves: for now the InferencePool's (``inference.networking.k8s.io/v1``).

An InferencePool is rendered only where the API server serves its kind (the
Gateway API Inference Extension's CRDs are installed); applying one anywhere
else would fail every reconcile. So the operator asks discovery (``GET
/apis/inference.networking.k8s.io/v1``, what kubectl and client-go's
discovery ask, open to every authenticated client; a few hundred bytes) at
start and then every ``MODELFLEET_DISCOVERY_SECONDS`` (default 30): CRDs
installed or removed later are seen within that, with no restart. When the
answer changes, every LLMDeployment is queued, so each gets (or stops
rendering) its pool at once.

When the kind goes away its objects go with it (the API server deletes a
CRD's objects), so the ones the cache still holds are dropped here, and the
reconciles that follow neither render nor delete any.

kopf watches InferencePools like every other child kind, and starts and
stops that watch itself as the CRD comes and goes (it watches CRDs); the
liveness probe does not count that watch (``liveness.OPTIONAL_GROUPS``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from modelfleet.render.names import INFERENCE_POOL_KIND

from .cache import ClusterCache
from .observe import LLMDEPLOYMENT_KIND
from .workqueue import WorkQueue

log = logging.getLogger(__name__)


class ServedApis:
    """The last answer of discovery about the optional kinds, read by every reconcile (no request)."""

    def __init__(self, ask_inference_pools: Callable[[], bool]) -> None:
        self._ask = ask_inference_pools
        self._lock = threading.Lock()
        self._inference_pools = False

    @property
    def inference_pools(self) -> bool:
        """The API server serves ``inference.networking.k8s.io/v1`` InferencePools."""
        with self._lock:
            return self._inference_pools

    def refresh(self) -> bool:
        """Ask again; True when the answer changed. A failed question keeps the last answer."""
        try:
            served = self._ask()
        except Exception as exc:  # noqa: BLE001  an unanswered question is no news: the next round asks again
            log.warning("API discovery of InferencePools failed (the last answer stands): %s", exc)
            return False
        with self._lock:
            changed, self._inference_pools = served != self._inference_pools, served
        if changed:
            log.info("the API server %s InferencePools (inference.networking.k8s.io/v1)",
                     "serves" if served else "no longer serves")
        return changed


def after_change(apis: ServedApis, cache: ClusterCache, queue: WorkQueue) -> None:
    """Drop what the cache holds of a kind that went away, and queue every LLMDeployment."""
    if not apis.inference_pools:
        for obj in cache.all(INFERENCE_POOL_KIND):
            cache.forget(obj)
    for key in cache.keys(LLMDEPLOYMENT_KIND):
        queue.add(key)


async def discover_forever(apis: ServedApis, cache: ClusterCache, queue: WorkQueue, period_s: float,
                           logger: logging.Logger | logging.LoggerAdapter[Any],
                           rescan: Callable[[], Awaitable[None]] | None = None) -> None:
    """Ask every ``period_s``; on a change, have kopf look at the group again (``rescan``: its own look may have
    come before discovery served a new CRD, kopf_resources.py) and re-plan every LLMDeployment."""
    while True:
        await asyncio.sleep(period_s)
        try:
            if await asyncio.to_thread(apis.refresh):
                if rescan is not None:
                    await rescan()
                after_change(apis, cache, queue)
        except Exception:  # the loop must outlive any one round
            logger.exception("API discovery round failed")
