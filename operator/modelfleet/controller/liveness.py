"""Does the operator still hear the API server? What ``/healthz`` answers, and how fast watches come back.

kopf retries a failed watch request on ``settings.networking.error_backoffs``
(1, 1, 2, 3, 5, 8, 13, 21 s by default) and, once those are spent, lets the
error end the watcher task for good (kopf 1.45, pinned in pyproject.toml: ``_cogs/clients/api.py``
``request`` escalates; ``_cogs/clients/watching.py`` ``infinite_watch``
catches only 429s), so an API server away for a minute leaves an operator
that hears nothing and a liveness probe that still says 200. Two fixes:

- ``RECONNECT_BACKOFFS``: retry every second, forever, so watches are back
  within a second or two of the API server.
- ``Liveness``: a pinger records when the API server last answered, and the
  probe fails when it has not answered for ``disconnected_limit_s`` or when
  a watcher task that was running has ended, so the kubelet restarts the
  operator instead of leaving it deaf.

Watches of the optional kinds (``OPTIONAL_GROUPS``: the InferencePool, where
the Inference Extension's CRDs are installed) are not counted: kopf ends
them itself when their CRD is removed, and that is no reason to restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from modelfleet.render.names import INFERENCE_POOL_GROUP

log = logging.getLogger(__name__)
# kopf's name for a watch-stream task (_core/reactor/orchestration.py): private to kopf, so
# tests/unit/test_controller_liveness.py spawns kopf's watchers and counts them by it.
WATCHER_TASK_PREFIX = "watcher for "
# API groups whose watches come and go with their CRDs (controller/discovery.py). kopf names a watch task
# "watcher for <plural>.<version>.<group>@<namespace>".
OPTIONAL_GROUPS = (INFERENCE_POOL_GROUP,)


class _RetryForever:
    """Backoffs for kopf's requests that never run out (kopf iterates them afresh per request)."""

    def __iter__(self) -> Iterator[float]:
        yield 0.5
        while True:
            yield 1.0


RECONNECT_BACKOFFS = _RetryForever()


def running_watchers() -> int:
    """kopf's watch streams that run, those of the optional kinds left out."""
    return sum(1 for t in asyncio.all_tasks() if t.get_name().startswith(WATCHER_TASK_PREFIX) and not t.done()
               and not _of_optional_group(t.get_name()))


def _of_optional_group(task_name: str) -> bool:
    resource = task_name.removeprefix(WATCHER_TASK_PREFIX).rpartition("@")[0]
    return any(resource.endswith(f".{group}") for group in OPTIONAL_GROUPS)


@dataclass
class Liveness:
    disconnected_limit_s: float
    clock: Callable[[], float] = time.monotonic
    last_answer: float = field(default=0.0)
    most_watchers: int = 0

    def __post_init__(self) -> None:
        self.last_answer = self.clock()

    def answered(self) -> None:
        self.last_answer = self.clock()

    def problem(self, watchers: int) -> str | None:
        """Why the operator should be restarted, or None while it is healthy."""
        self.most_watchers = max(self.most_watchers, watchers)
        silent = self.clock() - self.last_answer
        if silent > self.disconnected_limit_s:
            return (f"the API server has not answered for {silent:.0f} s (limit {self.disconnected_limit_s:g} s, "
                    "MODELFLEET_DISCONNECTED_LIMIT): the watches are disconnected")
        if watchers < self.most_watchers:
            return (f"{self.most_watchers - watchers} of {self.most_watchers} watch streams ended and kopf does not "
                    "restart them: the operator no longer hears those objects")
        return None


async def ping_forever(liveness: Liveness, ping: Callable[[], None], period_s: float) -> None:
    """Ask the API server something cheap every ``period_s``; record each answer."""
    while True:
        try:
            await asyncio.to_thread(ping)
            liveness.answered()
        except Exception as exc:  # noqa: BLE001  any failure is a silence; the probe judges how long it lasted
            log.debug("the API server did not answer: %s", exc)
        await asyncio.sleep(period_s)
