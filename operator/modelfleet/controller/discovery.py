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
A watch started under a running operator is not to be trusted alone: in CI
(2026-12-06) kopf's first list of it was throttled (429), its retry
succeeded, and no event of the kind ever reached the handler after that,
so a pool deleted by hand stayed deleted. So every round also lists the
pools the operator made (one request, by label) and makes the cache agree:
a pool the API server no longer has is forgotten and its LLMDeployment
queued, which applies it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from modelfleet.render import LLMDEPLOYMENT_LABEL
from modelfleet.render.names import INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND

from .cache import ClusterCache
from .kube import Forbidden, Kube
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


def agree_on_pools(listed: list[dict[str, Any]], cache: ClusterCache, queue: WorkQueue) -> None:
    """Make the cache's InferencePools the ones the API server listed: the missing ones forgotten, the
    changed ones stored, and their LLMDeployments queued (a pool deleted by hand is applied again)."""
    live = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in listed}
    for obj in cache.all(INFERENCE_POOL_KIND):
        if (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) not in live:
            cache.forget(obj)
            _queue_owner(obj, queue)
    for obj in listed:
        if cache.store(obj):
            _queue_owner(obj, queue)


class OperatorPools:
    """Lists the InferencePools the operator made (its label): in one request across the cluster, or, once
    that is Forbidden (an install limited to some namespaces), in each namespace that has an LLMDeployment,
    from then on. The install's mode does not change under a running operator (the chart passes its
    namespaces as arguments, so changing them restarts the pod), so the cluster-wide 403 is asked once, not
    every discovery round."""

    def __init__(self, kube: Kube, cache: ClusterCache) -> None:
        self.kube, self.cache = kube, cache
        self.per_namespace = False

    def __call__(self) -> list[dict[str, Any]]:
        if not self.per_namespace:
            try:
                return self.kube.list_all(INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND,
                                          label_selector=LLMDEPLOYMENT_LABEL)
            except Forbidden:
                self.per_namespace = True
        namespaces = sorted({namespace for namespace, _ in self.cache.keys(LLMDEPLOYMENT_KIND)})
        return [pool for namespace in namespaces for pool in self.kube.list_all(
            INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, label_selector=LLMDEPLOYMENT_LABEL, namespace=namespace)]


def _queue_owner(obj: dict[str, Any], queue: WorkQueue) -> None:
    owner = (obj["metadata"].get("labels") or {}).get(LLMDEPLOYMENT_LABEL)
    if owner:
        queue.add((obj["metadata"].get("namespace", ""), owner))


async def discover_forever(apis: ServedApis, cache: ClusterCache, queue: WorkQueue, period_s: float,
                           logger: logging.Logger | logging.LoggerAdapter[Any],
                           rescan: Callable[[], Awaitable[None]] | None = None,
                           list_pools: Callable[[], list[dict[str, Any]]] | None = None) -> None:
    """Ask every ``period_s``; on a change, have kopf look at the group again (``rescan``: its own look may have
    come before discovery served a new CRD, kopf_resources.py) and re-plan every LLMDeployment. While the
    pools are served, also list the operator's pools (``list_pools``) and make the cache agree."""
    while True:
        await asyncio.sleep(period_s)
        try:
            if await asyncio.to_thread(apis.refresh):
                if rescan is not None:
                    await rescan()
                after_change(apis, cache, queue)
            if apis.inference_pools and list_pools is not None:
                agree_on_pools(await asyncio.to_thread(list_pools), cache, queue)
        except Exception:  # the loop must outlive any one round
            logger.exception("API discovery round failed")
