"""What the operator knows before its first reconcile, and which pods count as replicas.

A restarted operator (a liveness kill on a busy node, an upgrade) must not plan an LLMDeployment on the
pools seen so far: kopf starts every watch at once, and one listed before its pool's nodes was planned
``UnknownPool`` on the real node. And an LLMDeployment's pre-pull pods carry its label but serve nothing:
counted as replicas they gave no metrics, so the autoscaler never scaled down.
"""

from __future__ import annotations

import asyncio
import logging

import kopf
import pytest

from modelfleet.controller import handlers
from modelfleet.controller.cache import ClusterCache
from modelfleet.controller.decide.pods import ready_pods
from modelfleet.controller.kube import Kube
from modelfleet.controller.observe import engine_pods, pod_security_level, router_pods
from modelfleet.render import LLMDEPLOYMENT_LABEL
from modelfleet.render.labels import COMPONENT_LABEL

POOL_KEY = "modelfleet.io/pool"


def gpu_node(name: str, pool: str) -> dict:
    return {"metadata": {"name": name, "resourceVersion": "7", "labels": {
                "nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.count": "4", POOL_KEY: pool}},
            "status": {"allocatable": {"cpu": "2", "memory": "24Gi", "nvidia.com/gpu": "4"}}}


class Page:
    def __init__(self, items: list[dict], token: str | None) -> None:
        self.page = {"items": items, "metadata": {"continue": token} if token else {}}

    def to_dict(self) -> dict:
        return self.page


class Nodes:
    """The dynamic client's Node resource, two pages long."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def get(self, **params) -> Page:
        self.asked.append(params)
        if params.get("_continue") is None:
            return Page([gpu_node("kwok-l4-0", "l4")], "page-2")
        return Page([gpu_node("real-0", "local")], None)


class Namespaces:
    """The dynamic client's Namespace resource: one, labelled with its Pod Security level."""

    def get(self, **params) -> Page:
        return Page([{"metadata": {"name": "team-a", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}],
                    None)


class Dynamic:
    def __init__(self) -> None:
        self.nodes = Nodes()
        self.resources = self

    def get(self, api_version: str, kind: str) -> Nodes | Namespaces:
        assert (api_version, kind) in (("v1", "Node"), ("v1", "Namespace"))
        return self.nodes if kind == "Node" else Namespaces()


def test_every_page_of_nodes_is_listed_with_its_kind():
    dynamic = Dynamic()
    nodes = Kube(dynamic=dynamic).list_all("v1", "Node")  # type: ignore[arg-type]
    assert [(n["kind"], n["metadata"]["name"]) for n in nodes] == [("Node", "kwok-l4-0"), ("Node", "real-0")]
    assert [p.get("_continue") for p in dynamic.nodes.asked] == [None, "page-2"]


def started(monkeypatch, tmp_path, settings: kopf.OperatorSettings) -> kopf.Memo:
    """The memo after the operator's startup handler, with a stand-in API server and its loops stopped."""
    path = tmp_path / "settings.yaml"
    path.write_text(f"poolLabelKey: {POOL_KEY}\n")
    monkeypatch.setenv("MODELFLEET_SETTINGS", str(path))
    monkeypatch.setattr(handlers, "connect", lambda: Kube(dynamic=Dynamic()))  # type: ignore[arg-type]
    memo = kopf.Memo()

    async def startup() -> None:
        await handlers.configure(settings=settings, memo=memo, logger=logging.getLogger("test"))
        for task in memo.loops:
            task.cancel()
        await asyncio.gather(*memo.loops, return_exceptions=True)

    asyncio.run(startup())
    return memo


def test_the_nodes_and_their_pools_are_known_before_any_watch_event(monkeypatch, tmp_path):
    memo = started(monkeypatch, tmp_path, kopf.OperatorSettings())
    assert sorted(n["metadata"]["name"] for n in memo.cache.all("Node")) == ["kwok-l4-0", "real-0"]
    assert [p.name for p in memo.pools] == ["l4", "local"]
    assert memo.reconciler.pools.pools(memo.cache) == memo.pools  # no node event re-queues every object
    # and the namespaces' Pod Security levels, which decide the cache mode a first reconcile renders
    assert pod_security_level(memo.cache, "team-a") == "baseline"


def test_the_pod_watch_asks_the_api_server_for_engine_and_router_pods_only(monkeypatch, tmp_path):
    settings = kopf.OperatorSettings()
    started(monkeypatch, tmp_path, settings)
    assert settings.watching.label_selectors["", "v1", "pods"] == (
        "modelfleet.io/llmdeployment,app.kubernetes.io/component in (engine,router)")
    assert settings.watching.label_selectors["apps", "v1", "deployments"] == "modelfleet.io/llmdeployment"


def pod(name: str, component: str) -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1",
                                        "labels": {LLMDEPLOYMENT_LABEL: "tiny", COMPONENT_LABEL: component}},
            "status": {"podIP": "198.18.0.9", "conditions": [{"type": "Ready", "status": "True"}]}}


def test_pre_pull_and_router_pods_are_not_replicas():
    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    cache.store(pod("tiny-abc", "engine"))
    cache.store(pod("tiny-prepull-xyz", "prepull"))
    cache.store(pod("tiny-router-def", "router"))
    assert [p["metadata"]["name"] for p in engine_pods(cache, "ns", "tiny")] == ["tiny-abc"]
    assert [p["metadata"]["name"] for p in router_pods(cache, "ns", "tiny")] == ["tiny-router-def"]
    # What the autoscaler scrapes: the ready ones of the snapshot's engine pods.
    assert [p["metadata"]["name"] for p in ready_pods(engine_pods(cache, "ns", "tiny"))] == ["tiny-abc"]


def test_only_autoscaled_fleets_at_zero_with_min_replicas_zero_are_watched_for_a_wake():
    from modelfleet.controller.loops import at_zero
    from modelfleet.controller.observe import snapshot_of

    def body(min_replicas: int, desired: int | None, enabled: bool = True) -> dict:
        return {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                "metadata": {"name": "m", "namespace": "ns", "uid": "u"},
                "spec": {"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
                         "autoscaling": {"enabled": enabled, "minReplicas": min_replicas}},
                "status": {} if desired is None else {"desiredReplicas": desired}}

    assert at_zero(snapshot_of(body(0, 0)))
    assert not at_zero(snapshot_of(body(0, 1)))
    assert not at_zero(snapshot_of(body(0, None)))
    assert not at_zero(snapshot_of(body(1, 0)))
    assert not at_zero(snapshot_of(body(0, 0, enabled=False)))


def test_the_wake_loop_prefilter_reads_only_the_stored_last_decision():
    from modelfleet.controller.observe import last_decided_zero

    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    for name, status in (("zero", {"desiredReplicas": 0}), ("one", {"desiredReplicas": 1}), ("new", None)):
        cache.store({"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                     "metadata": {"name": name, "namespace": "ns", "uid": name},
                     "spec": {"model": {"id": "not a parsable spec needed"}}, **({"status": status} if status else {})})
    assert last_decided_zero(cache, "ns", "zero")
    assert not last_decided_zero(cache, "ns", "one")
    assert not last_decided_zero(cache, "ns", "new")
    assert not last_decided_zero(cache, "ns", "gone")


@pytest.mark.parametrize(("component", "cached"), [("engine", True), ("router", True), ("prepull", False)])
def test_the_pod_handler_takes_engine_and_router_pods_into_the_cache(component, cached):
    """kopf filters the pod events again by the handler's labels: a filter that lets router pods through the
    watch's selector but not the handler leaves the autoscaler with no router to read (a fleet at zero then
    wakes on "no router pod is ready" instead of on a held request)."""
    from kopf._core.intents.registries import _matches_metadata

    from modelfleet.controller import handlers

    (handler,) = [h for h in kopf.get_default_registry()._watching.get_all_handlers()
                  if getattr(h, "fn", None) is handlers.pod_event]
    labels = {LLMDEPLOYMENT_LABEL: "tiny", COMPONENT_LABEL: component}
    assert _matches_metadata(pattern=handler.labels, content=labels, kwargs={"x": 1}, cause=None) is cached


def test_a_router_pod_that_starts_or_stops_failing_queues_its_llmdeployment():
    """Its status says RouterFailing: the reconcile must run when the kubelet's verdict changes, not only at the
    next resync (60 s)."""
    import asyncio

    from modelfleet.controller import handlers
    from modelfleet.controller.workqueue import WorkQueue

    def router(version: str, waiting: str | None) -> dict:
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        labels = {LLMDEPLOYMENT_LABEL: "tiny", COMPONENT_LABEL: "router"}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "tiny-router-a", "namespace": "ns", "resourceVersion": version, "labels": labels},
                "status": {"containerStatuses": [{"name": "router", "state": state}]}}

    memo = kopf.Memo(cache=ClusterCache(index_label=LLMDEPLOYMENT_LABEL), queue=WorkQueue())
    asked = []
    for version, waiting in (("1", None), ("2", "CrashLoopBackOff"), ("3", "CrashLoopBackOff"), ("4", None)):
        asyncio.run(handlers.pod_event(event={"type": "MODIFIED", "object": router(version, waiting)}, memo=memo))
        asked.append(len(memo.queue))
        memo.queue = WorkQueue()
    assert asked == [0, 1, 0, 1]
