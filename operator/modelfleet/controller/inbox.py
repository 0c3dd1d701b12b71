"""What the autoscaling loop learned of each LLMDeployment, waiting for that object's worker to write it.

The loop scrapes on the event loop and writes nothing: it posts its scaling
decision and its KV capacity measurement here and queues the object; the
object's workqueue worker (one at a time per object) writes them, each under
its own field manager, then reconciles. Writing every object from its own
worker only is what lets the writers go without a lock per object. Only the
newest fact of each kind is kept: each says the whole of what it decided.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from modelfleet.autoscale.policy import Decision

from .decide.capacity import Measurement
from .workqueue import WorkKey


@dataclass(frozen=True)
class Facts:
    decision: Decision | None = None
    measurement: Measurement | None = None


class Inbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # posted on the event loop, taken in a worker thread
        self._facts: dict[WorkKey, Facts] = {}

    def post(self, key: WorkKey, decision: Decision | None = None, measurement: Measurement | None = None) -> None:
        with self._lock:
            facts = self._facts.get(key, Facts())
            if decision is not None:
                facts = replace(facts, decision=decision)
            if measurement is not None:
                facts = replace(facts, measurement=measurement)
            self._facts[key] = facts

    def take(self, key: WorkKey) -> Facts:
        with self._lock:
            return self._facts.pop(key, Facts())

    def forget(self, key: WorkKey) -> None:
        with self._lock:
            self._facts.pop(key, None)
