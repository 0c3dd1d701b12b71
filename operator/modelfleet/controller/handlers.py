"""kopf handlers: thin entry points that feed the cache and the workqueue.

Only watching handlers are used (no change handlers, timers or deletion
handlers), so kopf writes nothing to LLMDeployments: no finalizer that could
block a deletion while the operator is down, no last-handled annotation for
GitOps tools to see. Children carry owner references and are garbage-collected
by Kubernetes.

kopf keeps one watch per kind; each event stores its object in the
``ClusterCache`` and queues the LLMDeployment it concerns (the queue folds a
burst of events for one object into one reconcile); nodes queue every
LLMDeployment only when the GPU pools they form changed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modelfleet.api import GROUP, PLURAL, VERSION
from modelfleet.render import LLMDEPLOYMENT_LABEL, WATCHED_PODS_SELECTOR, child_refs
from modelfleet.render.labels import COMPONENT_LABEL, ENGINE, ROUTER
from modelfleet.render.names import INFERENCE_POOL_GROUP, INFERENCE_POOL_PLURAL, INFERENCE_POOL_VERSION

from . import metrics
from .autoscaler import Autoscaler
from .cache import ClusterCache
from .config import load_process_config
from .decide.fields import RECONCILER
from .decide.pods import container_failing, unschedulable_pod
from .discovery import OperatorPools, ServedApis, discover_forever
from .kopf_resources import rescan
from .kube import Kube, connect
from .liveness import RECONNECT_BACKOFFS, Liveness, ping_forever, running_watchers
from .loops import autoscale_forever, reconcile_forever, resync_forever, wake_forever
from .observe import LLMDEPLOYMENT_KIND, pod_security_level
from .reconcile import Reconciler
from .workqueue import WorkQueue

PING_PERIOD_S = 5.0
# The kinds of child an LLMDeployment may have; each is watched (names do not matter here).
CHILD_KINDS = sorted({(ref.api_version, ref.kind) for ref in child_refs("any")})


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    return kopf.login_via_client(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_kwargs: Any) -> None:
    """Every kopf setting, and the operator's own state, in one place."""
    config = load_process_config()
    settings.watching.server_timeout = config.watch_timeout_seconds
    settings.watching.client_timeout = config.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.networking.error_backoffs = RECONNECT_BACKOFFS  # see liveness: kopf's own run out after 54 s
    for api_version, kind in CHILD_KINDS:
        # Server-side filtering: only the children and engine pods of LLMDeployments reach the cache.
        group, _, version = api_version.rpartition("/")
        settings.watching.label_selectors[group, version, kind.lower() + "s"] = LLMDEPLOYMENT_LABEL
    settings.watching.label_selectors["", "v1", "pods"] = WATCHED_PODS_SELECTOR
    settings.posting.level = logging.WARNING  # kopf's own events: handler failures only
    memo.cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL, managed_fields_of=frozenset(k for _, k in CHILD_KINDS),
                              own_manager=RECONCILER)
    memo.queue = WorkQueue()
    kube = connect()
    memo.reconciler = Reconciler(kube, memo.cache, config.settings, token_reader=config.token_reader,
                                 apis=served_apis(kube))
    memo.autoscaler = Autoscaler(cold_start_estimate_s=config.settings.cold_start_estimate_seconds)
    # The nodes before any reconcile (client-go's WaitForCacheSync): kopf's watches start together, and
    # an LLMDeployment listed before its pool's nodes would be planned on the pools seen so far.
    for node in await asyncio.to_thread(memo.reconciler.kube.list_all, "v1", "Node"):
        memo.cache.store(node)
    # The namespaces too: their Pod Security level decides the cache mode a first reconcile renders.
    for namespace in await asyncio.to_thread(memo.reconciler.kube.list_all, "v1", "Namespace"):
        memo.cache.store(namespace)
    memo.pools = memo.reconciler.pools.pools(memo.cache)
    # Whether InferencePools are served, before the first reconcile renders (or not) one.
    await asyncio.to_thread(memo.reconciler.apis.refresh)
    memo.liveness = Liveness(config.disconnected_limit_seconds)
    memo.loops = [asyncio.create_task(reconcile_forever(memo.queue, memo.reconciler, logger))
                  for _ in range(config.workers)]
    memo.loops += [
        asyncio.create_task(resync_forever(memo.queue, memo.cache, config)),
        asyncio.create_task(ping_forever(memo.liveness, memo.reconciler.kube.ping, PING_PERIOD_S)),
        asyncio.create_task(autoscale_forever(memo.autoscaler, memo.reconciler, memo.queue, config, logger)),
        asyncio.create_task(wake_forever(memo.autoscaler, memo.reconciler, memo.queue, config, logger)),
        asyncio.create_task(discover_forever(
            memo.reconciler.apis, memo.cache, memo.queue, config.discovery_seconds, logger,
            rescan=lambda: rescan(INFERENCE_POOL_GROUP, settings),
            list_pools=OperatorPools(memo.reconciler.kube, memo.cache))),
    ]


def served_apis(kube: Kube) -> ServedApis:
    """Discovery of the optional kinds, asked of ``kube``."""
    return ServedApis(lambda: kube.serves(INFERENCE_POOL_GROUP, INFERENCE_POOL_VERSION, INFERENCE_POOL_PLURAL))


@kopf.on.probe(id="apiserver")
async def apiserver_heard(memo: kopf.Memo, **_: Any) -> str:
    """/healthz: fails when the API server has been silent too long or a watch stream ended."""
    problem = memo.liveness.problem(running_watchers())
    if problem is not None:
        raise kopf.PermanentError(problem)
    return "connected"


@kopf.on.cleanup()
async def stop_loops(memo: kopf.Memo, **_: Any) -> None:
    for task in getattr(memo, "loops", []):
        task.cancel()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def llmdeployment_event(event: kopf.RawEvent, namespace: str | None, name: str, uid: str, memo: kopf.Memo,
                              **_: Any) -> None:
    """Stored as it came, keyed by kopf's reading of its metadata: only ``observe`` reads an LLMDeployment."""
    key = (namespace or "", name)
    if event.get("type") == "DELETED":
        memo.cache.forget(event["object"])
        memo.queue.forget(key)
        memo.reconciler.inbox.forget(key)
        memo.autoscaler.states.pop(uid, None)
        metrics.forget(*key)
        return
    if memo.cache.store(event["object"]):
        memo.queue.add(key)


def _child_handler(api_version: str, kind: str) -> None:
    group, _, version = api_version.rpartition("/")

    @kopf.on.event(group, version, kind.lower() + "s", labels={LLMDEPLOYMENT_LABEL: kopf.PRESENT}, id=f"child-{kind}")
    async def child_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        """A child changed or vanished: remember it, and bring its owner back to the desired state."""
        obj = event["object"]
        if event.get("type") == "DELETED":
            memo.cache.forget(obj)
        elif not memo.cache.store(obj):
            return  # the echo of the operator's own apply
        memo.queue.add((obj["metadata"]["namespace"], obj["metadata"]["labels"][LLMDEPLOYMENT_LABEL]))


for _api_version, _kind in CHILD_KINDS:
    _child_handler(_api_version, _kind)


def cached_component(value: str | None, **_: Any) -> bool:
    """The pods the cache keeps: engine pods (the replicas) and router pods (their held count, at zero)."""
    return value in (ENGINE, ROUTER)


@kopf.on.event("", "v1", "pods", labels={LLMDEPLOYMENT_LABEL: kopf.PRESENT, COMPONENT_LABEL: cached_component})
async def pod_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """An engine or router pod changed: the autoscaler reads them; the owner's status says why a pod cannot be
    scheduled or its container cannot run, so the owner is queued when that changes (the Deployment's own
    status covers the rest)."""
    obj = event["object"]
    before = memo.cache.get("Pod", obj["metadata"]["namespace"], obj["metadata"]["name"])
    if event.get("type") == "DELETED":
        memo.cache.forget(obj)
    else:
        memo.cache.store(obj)
    if unschedulable_pod(obj) or (before is not None and unschedulable_pod(before)) or (
            container_failing(obj) != (container_failing(before) if before is not None else None)):
        memo.queue.add((obj["metadata"]["namespace"], obj["metadata"]["labels"][LLMDEPLOYMENT_LABEL]))


@kopf.on.event("", "v1", "namespaces")
async def namespace_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    """A namespace's Pod Security level decides the cache mode its LLMDeployments may have: a change re-plans
    them."""
    obj = event["object"]
    name = obj["metadata"]["name"]
    before = pod_security_level(memo.cache, name)
    if event.get("type") == "DELETED":
        memo.cache.forget(obj)
    else:
        memo.cache.store(obj)
    if pod_security_level(memo.cache, name) != before:
        for key in memo.cache.keys(LLMDEPLOYMENT_KIND):
            if key[0] == name:
                memo.queue.add(key)


@kopf.on.event("", "v1", "nodes")
async def node_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED":
        memo.cache.forget(event["object"])
    else:
        memo.cache.store(event["object"])
    pools = memo.reconciler.pools.pools(memo.cache)
    if pools != memo.pools:  # a pool came, went or changed: every plan may change
        memo.pools = pools
        for key in memo.cache.keys(LLMDEPLOYMENT_KIND):
            memo.queue.add(key)
