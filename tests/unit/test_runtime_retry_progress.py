"""Retry policy and progress lines of the pre-pull, without a network."""

from __future__ import annotations

import errno

import httpx2
import pytest

from modelfleet.runtime.errors import HubUnavailable, is_disk_full
from modelfleet.runtime.progress import Progress, Snapshot, duration, progress_line
from modelfleet.runtime.retry import Backoff, ShortBody, is_transient, with_retries


def test_backoff_doubles_up_to_a_cap():
    backoff = Backoff(attempts=8, first_delay_s=2, max_delay_s=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 30, 30, 30]


def http_error(status: int) -> Exception:
    request = httpx2.Request("GET", "http://hub/x")
    error = Exception("boom")
    error.response = httpx2.Response(status, request=request)
    return error


@pytest.mark.parametrize("status, transient", [(500, True), (502, True), (503, True), (504, True), (429, True),
                                               (408, True), (401, False), (403, False), (404, False), (416, False)])
def test_which_http_statuses_are_retried(status, transient):
    assert is_transient(http_error(status)) is transient


def test_network_errors_are_retried_even_when_wrapped():
    try:
        try:
            raise httpx2.ConnectError("refused")
        except httpx2.ConnectError as cause:
            raise FileNotFoundError("cache miss") from cause
    except FileNotFoundError as wrapped:
        assert is_transient(wrapped)
    assert is_transient(ShortBody("ended early"))
    assert not is_transient(OSError(errno.ENOSPC, "No space left on device"))


def test_retries_stop_after_the_last_attempt_with_the_cause():
    calls, waits, lines = [], [], []

    def failing():
        calls.append(1)
        raise http_error(503)

    expected = r"kept failing while listing: 4 attempts in a row over \d+ s; last error: HTTP 503"
    with pytest.raises(HubUnavailable, match=expected):
        with_retries(failing, what="listing", backoff=Backoff(attempts=4, first_delay_s=1), log=lines.append,
                     sleep=waits.append)
    assert len(calls) == 4
    assert waits == [1, 2, 4]
    assert lines[0] == "listing: HTTP 503: Exception: boom; attempt 1 of 4, retrying in 1 s"


def test_a_failure_that_made_progress_does_not_count():
    received = [0]

    def flaky():
        received[0] += 100
        if received[0] < 1000:
            raise httpx2.RemoteProtocolError("peer closed connection")
        return "done"

    waits = []
    assert with_retries(flaky, what="fetching", backoff=Backoff(attempts=2), log=lambda _: None,
                        progress=lambda: received[0], sleep=waits.append) == "done"
    assert len(waits) == 9 and set(waits) == {2.0}  # never past the first delay: every attempt moved forward


def test_permanent_errors_are_not_retried():
    calls = []

    def forbidden():
        calls.append(1)
        raise http_error(403)

    with pytest.raises(Exception, match="boom"):
        with_retries(forbidden, what="x", backoff=Backoff(), log=lambda _: None, sleep=lambda _: None)
    assert calls == [1]


def test_disk_full_is_recognised_through_wrappers():
    try:
        try:
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
        except OSError as cause:
            raise RuntimeError("write failed") from cause
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)


def test_progress_line():
    previous = Snapshot(done=10_000_000_000, total=93_000_000_000, fetched=9_000_000_000, elapsed_s=20.0)
    current = Snapshot(done=12_500_000_000, total=93_000_000_000, fetched=11_500_000_000, elapsed_s=25.0)
    assert progress_line(previous, current) == "13.4% (12.50 of 93.00 GB), 500.0 MB/s, ETA 2m55s"


def test_progress_counts_what_an_earlier_run_left():
    clock = iter([0.0, 10.0]).__next__
    progress = Progress(total=100_000_000, present=40_000_000, clock=clock)
    progress.resumed(10_000_000)
    progress.fetched(25_000_000)
    assert progress.snapshot() == Snapshot(done=75_000_000, total=100_000_000, fetched=25_000_000, elapsed_s=10.0)


@pytest.mark.parametrize("seconds, text", [(None, "unknown"), (0.4, "0s"), (59.6, "1m00s"), (3725, "1h02m")])
def test_durations(seconds, text):
    assert duration(seconds) == text
