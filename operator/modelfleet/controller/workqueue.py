"""The queue of LLMDeployments to reconcile, with client-go's workqueue rules.

- A key waits in the queue at most once: a burst of events for one object
  (its create, its three children's, their status moves) is one reconcile.
- One worker at a time per key; a key added while it is being reconciled is
  queued again when that reconcile ends, so no change is missed.
- A key whose reconcile failed comes back after a backoff that doubles per
  failure (``BACKOFF_BASE_SECONDS`` up to ``BACKOFF_MAX_SECONDS``) while the
  other keys go on: one bad object cannot stop the rest.
- A key added ``urgent`` (the autoscaler has something to write) goes to the
  front, ahead of a resync's thousand keys: a scale-up waits for no one.

Every method runs on the operator's event loop (kopf's handlers and the
loops are coroutines there); the reconciles themselves run in threads.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque

WorkKey = tuple[str, str]  # (namespace, name)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0


class WorkQueue:
    def __init__(self) -> None:
        self._order: deque[WorkKey] = deque()  # the waiting keys, next first
        self._available = asyncio.Semaphore(0)  # one per waiting key
        self._waiting: set[WorkKey] = set()
        self._processing: set[WorkKey] = set()
        self._dirty: dict[WorkKey, bool] = {}  # asked for during their reconcile -> urgent
        self._failures: Counter[WorkKey] = Counter()

    def add(self, key: WorkKey, urgent: bool = False) -> None:
        if key in self._waiting:
            if urgent:  # ahead of the others, still once
                self._order.remove(key)
                self._order.appendleft(key)
            return
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        self._waiting.add(key)
        if urgent:
            self._order.appendleft(key)
        else:
            self._order.append(key)
        self._available.release()

    async def get(self) -> WorkKey:
        await self._available.acquire()
        key = self._order.popleft()
        self._waiting.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: WorkKey) -> None:
        """The reconcile of ``key`` ended; if it was asked for again meanwhile, queue it."""
        self._processing.discard(key)
        if key in self._dirty:
            self.add(key, urgent=self._dirty.pop(key))

    def succeeded(self, key: WorkKey) -> None:
        self._failures.pop(key, None)

    def failed(self, key: WorkKey) -> float:
        """Queue ``key`` again after its backoff; returns the delay."""
        self._failures[key] += 1
        delay = min(BACKOFF_BASE_SECONDS * 2.0 ** (self._failures[key] - 1), BACKOFF_MAX_SECONDS)
        asyncio.get_running_loop().call_later(delay, self.add, key)
        return delay

    def forget(self, key: WorkKey) -> None:
        """The object is gone: its failure count goes with it."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting)
