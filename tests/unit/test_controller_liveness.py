"""What /healthz answers: the API server's silence and ended watch streams (pure, with a fake clock)."""

from __future__ import annotations

import asyncio
import itertools

import kopf

from modelfleet.controller.liveness import RECONNECT_BACKOFFS, Liveness, running_watchers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_silence_longer_than_the_limit_fails_and_an_answer_heals():
    clock = Clock()
    liveness = Liveness(disconnected_limit_s=60, clock=clock)
    clock.now += 59
    assert liveness.problem(watchers=8) is None
    clock.now += 2
    assert "has not answered for 61 s" in liveness.problem(watchers=8)
    liveness.answered()
    assert liveness.problem(watchers=8) is None


def test_a_watch_stream_that_ended_fails_the_probe():
    liveness = Liveness(disconnected_limit_s=60, clock=Clock())
    assert liveness.problem(watchers=8) is None
    assert "1 of 8 watch streams ended" in liveness.problem(watchers=7)


def test_kopfs_retries_never_run_out_and_stay_short():
    for _ in range(2):  # kopf iterates the backoffs afresh for every request
        first = list(itertools.islice(iter(RECONNECT_BACKOFFS), 1000))
        assert len(first) == 1000 and max(first) <= 1.0


def test_kopf_names_its_watch_stream_tasks_as_the_probe_counts_them(monkeypatch):
    """``running_watchers`` counts kopf's watch-stream tasks by name, a private detail of kopf
    (``_core/reactor/orchestration.py``, ``spawn_missing_watchers``): spawn them the way kopf does, and count."""
    from kopf._cogs.aiokits import aiotoggles
    from kopf._cogs.structs import references
    from kopf._core.reactor import orchestration, queueing

    async def watch_forever(**_: object) -> None:
        await asyncio.Event().wait()

    async def ignore(**_: object) -> None:
        return None

    monkeypatch.setattr(queueing, "watcher", watch_forever)  # no API server: the stream itself is not the point

    async def scenario() -> int:
        paused = aiotoggles.ToggleSet(any)
        ensemble = orchestration.Ensemble(peering_missing=await paused.make_toggle(name="test"),
                                          operator_paused=paused, operator_indexed=aiotoggles.ToggleSet(all))
        resources = [references.Resource("apps", "v1", "deployments", namespaced=True),
                     references.Resource("", "v1", "nodes", namespaced=False)]
        await orchestration.spawn_missing_watchers(
            processor=ignore, settings=kopf.OperatorSettings(), indexed_resources=(), watched_resources=resources,
            watched_namespaces=[None], ensemble=ensemble)
        counted = running_watchers()
        for task in ensemble.watcher_tasks.values():
            task.cancel()
        await asyncio.gather(*ensemble.watcher_tasks.values(), return_exceptions=True)
        return counted

    assert asyncio.run(scenario()) == 2
