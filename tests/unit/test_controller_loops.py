"""One poison object cannot stop the others: a reconcile that raises is reported on its own object and
retried with backoff while the rest of the queue goes on (the loop, with a stand-in reconciler)."""

from __future__ import annotations

import asyncio
import logging

from modelfleet.controller import workqueue
from modelfleet.controller.loops import reconcile_forever
from modelfleet.controller.workqueue import WorkQueue

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
