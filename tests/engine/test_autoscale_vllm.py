"""Scraping and scaling decisions against two real vLLM CPU servers.

The servers run a tiny Mixtral with --max-num-seqs 2, so a dozen concurrent
requests per server queue up. The policy's clock is fed explicitly (a 5 s
scale-down window, decisions at chosen times): the test checks decisions,
never how long anything took.
"""
from __future__ import annotations

import asyncio
import os
import signal

import pytest

from modelfleet.autoscale.observations import Observation
from modelfleet.autoscale.policy import FleetSnapshot, PolicySettings, PolicyState, decide
from modelfleet.autoscale.scrape import ScrapeTarget, scrape_fleet
from support import vllm_server

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

SETTINGS = PolicySettings(min_replicas=1, max_replicas=8, target_queue_depth=1.0,
                          scale_up_window_s=0, scale_down_window_s=5, batch_limit=2)
CONCURRENCY = 12  # per server: 2 run, 10 wait
# Per server, bounded in count and in time; the load stops as soon as a scrape shows the queue. A
# fixed 36 requests ended, once in CI, while one server's /metrics answered late on the starved
# cores: the only scrape during the load came after it had drained.
REQUESTS = 400
LOAD_DEADLINE_S = 180.0
MAX_TOKENS = 200  # with ignore_eos, each request runs this long (max-model-len is 256)
POLLS = 400  # scrapes while waiting for the queue, 0.25 s apart: the loop is bounded too


def targets(fleet) -> list[ScrapeTarget]:
    return [ScrapeTarget(f"vllm-{i}", server.base_url) for i, server in enumerate(fleet.servers)]


def snapshot(replicas: int, observations: tuple[Observation, ...]) -> FleetSnapshot:
    return FleetSnapshot(replicas=replicas, ready=len(observations), observations=observations)


def waiting(observations: tuple[Observation, ...]) -> float:
    return sum(o.load.waiting for o in observations if o.load is not None)


async def scrape_while_loaded(fleet) -> tuple[tuple[Observation, ...], list[int]]:
    """Load both servers until a scrape shows a fleet queue; return that scrape and the statuses of
    the requests that finished before the load stopped.

    The fleet's queue, not each server's: on a busy machine the two servers
    do not always queue at the same instant.
    """
    stop = asyncio.Event()
    loads = [asyncio.ensure_future(vllm_server.bounded_load(
        server.base_url, fleet.model, concurrency=CONCURRENCY, total=REQUESTS, max_tokens=MAX_TOKENS,
        deadline_s=LOAD_DEADLINE_S, stop=stop)) for server in fleet.servers]
    queued = None
    for _ in range(POLLS):
        observations = await scrape_fleet("vllm", targets(fleet))
        if all(o.load is not None for o in observations) and waiting(observations) >= 8:
            queued = observations
            break
        if all(load.done() for load in loads):
            break
        await asyncio.sleep(0.25)
    stop.set()
    statuses = [status for load in await asyncio.gather(*loads) for status in load]
    assert queued is not None, f"no scrape showed a queue; last: {observations}"
    return queued, statuses


async def scrape_when_idle(fleet) -> tuple[Observation, ...]:
    """The first scrape with nothing running or waiting: the requests the stopped load left are
    aborted by the servers as their clients disconnect. Bounded: POLLS scrapes."""
    for _ in range(POLLS):
        observations = await scrape_fleet("vllm", targets(fleet))
        if all(o.load is not None and o.load.running == 0 and o.load.waiting == 0 for o in observations):
            return observations
        await asyncio.sleep(0.25)
    raise AssertionError(f"the servers never went idle after the load stopped; last: {observations}")


def test_queue_depth_rises_under_load_and_the_policy_scales_up_then_down(vllm_fleet):
    loaded, statuses = asyncio.run(scrape_while_loaded(vllm_fleet))
    # The queue proves the servers took the requests; any that finished before the load stopped
    # (none, if the first scrape already saw the queue) finished well.
    assert set(statuses) <= {200}, statuses[:5]
    assert all(o.load.running <= 2 for o in loaded), loaded  # --max-num-seqs 2

    up = decide(SETTINGS, snapshot(2, loaded), PolicyState(), now=0.0)
    assert up.reason == "ScaleUp" and up.replicas > 2, up.message
    assert up.queue_depth == waiting(loaded) / 2

    idle = asyncio.run(scrape_when_idle(vllm_fleet))
    # The operator has asked for up.replicas; only the two servers are ready (the rest "start").
    holding = decide(SETTINGS, snapshot(up.replicas, idle), up.state, now=1.0)
    assert holding.replicas == up.replicas and holding.reason == "StabilizingScaleDown", holding.message
    # Past the window, still nothing goes while replicas start: a loading replica is never scaled down.
    loading = decide(SETTINGS, snapshot(up.replicas, idle), holding.state, now=1.0 + SETTINGS.scale_down_window_s)
    assert loading.replicas == up.replicas and loading.reason == "WaitingForStartingReplicas", loading.message
    # Once the fleet is the two ready servers, the idle load takes it down.
    down = decide(SETTINGS, snapshot(2, idle), loading.state, now=2.0 + SETTINGS.scale_down_window_s)
    assert down.reason == "ScaleDown" and down.replicas < 2, down.message

def idle_state(fleet) -> PolicyState:
    """The state after one decision on an idle fleet of 2 (both ready), which would scale down at now=10."""
    idle = asyncio.run(scrape_fleet("vllm", targets(fleet)))
    first = decide(SETTINGS, snapshot(2, idle), PolicyState(), now=0.0)
    would = decide(SETTINGS, snapshot(2, idle), first.state, now=10.0)
    assert would.replicas < 2, would.message  # the contrast: with every server's metrics, it scales down
    return first.state


def test_a_hung_server_does_not_scale_the_fleet_down(vllm_fleet):
    state = idle_state(vllm_fleet)
    hung = vllm_fleet.servers[1]
    os.killpg(hung.process.pid, signal.SIGSTOP)  # the server's whole process group, which we started
    try:
        observations = asyncio.run(scrape_fleet("vllm", targets(vllm_fleet), timeout_s=1.0))
    finally:
        os.killpg(hung.process.pid, signal.SIGCONT)
    assert [o.missing for o in observations] == [False, True]
    assert "no answer within 1 s" in observations[1].error
    decision = decide(SETTINGS, snapshot(2, observations), state, now=10.0)
    assert decision.replicas == 2 and decision.reason == "MetricsMissing", decision.message


def test_a_stopped_server_does_not_scale_the_fleet_down(vllm_fleet):
    state = idle_state(vllm_fleet)
    vllm_fleet.servers[1].stop()  # the next test that needs it gets it restarted
    observations = asyncio.run(scrape_fleet("vllm", targets(vllm_fleet)))
    assert [o.missing for o in observations] == [False, True]
    decision = decide(SETTINGS, snapshot(2, observations), state, now=10.0)
    assert decision.replicas == 2 and decision.reason == "MetricsMissing", decision.message
    assert "vllm-1" in decision.message
