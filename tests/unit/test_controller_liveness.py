"""What /healthz answers: the API server's silence and ended watch streams (pure, with a fake clock)."""

from __future__ import annotations

import itertools

from modelfleet.controller.liveness import RECONNECT_BACKOFFS, Liveness


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
