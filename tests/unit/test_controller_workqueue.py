"""The reconcile queue: one wait per key, one worker per key, nothing lost, backoff on failure."""

from __future__ import annotations

import asyncio

from modelfleet.controller import workqueue
from modelfleet.controller.workqueue import WorkQueue

A, B, C = ("llm", "a"), ("llm", "b"), ("llm", "c")


def run(scenario):
    return asyncio.run(scenario())


def test_a_burst_of_events_for_one_key_is_one_reconcile():
    async def scenario():
        queue = WorkQueue()
        for key in (A, A, B, A):
            queue.add(key)
        assert len(queue) == 2
        return [await queue.get(), await queue.get()]
    assert run(scenario) == [A, B]


def test_a_key_added_while_it_is_reconciled_comes_back_after():
    async def scenario():
        queue = WorkQueue()
        queue.add(A)
        key = await queue.get()
        queue.add(A)  # an event during the reconcile
        assert len(queue) == 0  # not handed to a second worker meanwhile
        queue.done(key)
        return await asyncio.wait_for(queue.get(), 1)
    assert run(scenario) == A


def test_an_urgent_key_goes_ahead_of_the_waiting_ones_still_once():
    """The autoscaler's writes wait for no resync: an urgent key goes first, a waiting one moves up."""
    async def scenario():
        queue = WorkQueue()
        queue.add(A)
        queue.add(B)
        queue.add(C, urgent=True)
        queue.add(B, urgent=True)
        assert len(queue) == 3
        return [await queue.get() for _ in range(3)]
    assert run(scenario) == [B, C, A]


def test_a_key_asked_for_urgently_during_its_reconcile_comes_back_first():
    async def scenario():
        queue = WorkQueue()
        queue.add(A)
        key = await queue.get()
        queue.add(A, urgent=True)  # the autoscaler posted while A was reconciled
        queue.add(B)
        queue.done(key)
        return [await queue.get(), await queue.get()]
    assert run(scenario) == [A, B]


def test_a_failing_key_backs_off_doubling_and_others_go_first(monkeypatch):
    monkeypatch.setattr(workqueue, "BACKOFF_BASE_SECONDS", 0.01)

    async def scenario():
        queue = WorkQueue()
        queue.add(A)
        key = await queue.get()
        delays = [queue.failed(key)]
        queue.done(key)
        queue.add(B)
        first = await queue.get()  # B is not held up by A's failure
        queue.done(first)
        again = await asyncio.wait_for(queue.get(), 1)
        delays.append(queue.failed(again))
        queue.done(again)
        await asyncio.wait_for(queue.get(), 1)
        queue.succeeded(A)
        delays.append(queue.failed(A))
        return first, again, delays
    first, again, delays = run(scenario)
    assert (first, again) == (B, A)
    assert delays == [0.01, 0.02, 0.01]  # success resets the backoff
