"""One poison object cannot stop the others: a reconcile that raises is reported on its own object and
retried with backoff while the rest of the queue goes on (the loop, with a stand-in reconciler). And the
autoscaling loop writes nothing: it posts what it decided to the object's inbox and queues the object first."""

from __future__ import annotations

import asyncio
import logging

from modelfleet.autoscale.policy import Decision, PolicyState
from modelfleet.controller import workqueue
from modelfleet.controller.cache import ClusterCache
from modelfleet.controller.config import ProcessConfig
from modelfleet.controller.inbox import Inbox
from modelfleet.controller.loops import autoscale_forever, reconcile_forever
from modelfleet.controller.workqueue import WorkQueue
from modelfleet.render import LLMDEPLOYMENT_LABEL

POISON, HEALTHY = ("llm", "poison"), ("llm", "healthy")


class Reconciler:
    def __init__(self) -> None:
        self.reconciled: list[tuple[str, str]] = []
        self.failures: list[tuple[tuple[str, str], str, float]] = []

    def reconcile(self, namespace: str, name: str) -> None:
        self.reconciled.append((namespace, name))
        if (namespace, name) == POISON:
            raise ValueError("a bug this object finds")

    def report_failure(self, namespace: str, name: str, error: BaseException, retry_seconds: float) -> None:
        self.failures.append(((namespace, name), str(error), retry_seconds))


def test_a_poison_object_is_reported_and_retried_while_the_others_are_reconciled(monkeypatch):
    monkeypatch.setattr(workqueue, "BACKOFF_BASE_SECONDS", 0.01)
    reconciler = Reconciler()

    async def scenario() -> None:
        queue = WorkQueue()
        worker = asyncio.create_task(reconcile_forever(queue, reconciler, logging.getLogger("test")))
        queue.add(POISON)
        queue.add(HEALTHY)
        while reconciler.reconciled.count(POISON) < 3:  # retried, again and again
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert HEALTHY in reconciler.reconciled
    assert reconciler.reconciled.index(HEALTHY) < reconciler.reconciled.index(POISON, 1)  # not held up
    assert [f[0] for f in reconciler.failures][:3] == [POISON] * 3
    assert reconciler.failures[0][1] == "a bug this object finds"
    assert [f[2] for f in reconciler.failures][:3] == [0.01, 0.02, 0.04]  # the backoff doubles


class Decides:
    """The autoscaler's decision step, stood in for: one decision for every fleet it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def decide(self, snapshot, session=None) -> Decision:
        self.asked.append(snapshot.ref.name)
        return Decision(replicas=2, previous=1, recommendation=2, queue_depth=3.0, reason="ScaledUp", message="1 -> 2",
                        state=PolicyState())

    @staticmethod
    def resolve(pod):
        raise AssertionError("no pod to scrape")


def test_the_autoscaling_loop_posts_its_decisions_and_queues_the_object_first():
    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    cache.store({"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "metadata": {
        "name": "fleet", "namespace": "llm", "uid": "u1", "resourceVersion": "1"}, "spec": {}})
    reconciler = type("Reconciler", (), {"cache": cache, "inbox": Inbox()})()
    decides = Decides()

    async def scenario() -> list:
        queue = WorkQueue()
        queue.add(HEALTHY)  # a resync's key, waiting already
        loop = asyncio.create_task(autoscale_forever(decides, reconciler, queue, ProcessConfig(
            settings=None, resync_seconds=60, watch_timeout_seconds=60, autoscale_seconds=0.01),
            logging.getLogger("test")))
        while not decides.asked:
            await asyncio.sleep(0.01)
        loop.cancel()
        return [await queue.get(), await queue.get()]

    assert asyncio.run(asyncio.wait_for(scenario(), 30)) == [("llm", "fleet"), HEALTHY]
    facts = reconciler.inbox.take(("llm", "fleet"))
    assert facts.decision.replicas == 2 and facts.measurement is None  # no plan yet: nothing to measure
