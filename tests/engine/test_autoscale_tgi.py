"""What the autoscaler reads from a real TGI moves under load, and TGI pushes back at --max-concurrent-requests.

One TGI (the tiny Mixtral, rendered flags: ``--max-concurrent-requests 16``
for maxConcurrency 4). The scraper reads the TGI profile's series
(``engines.tgi.METRICS``): ``tgi_queue_size`` (waiting),
``tgi_batch_current_size`` (running) and ``tgi_request_success``
(completed). On the CPU, TGI runs transformers' ``CausalLM``, whose batch is
bounded by tokens (``backends/v3/src/lib.rs``: 16000 without a paged KV
cache), not by maxConcurrency, so the queue here is the requests that arrive
while a batch is decoding: without prefill chunking (the CPU path), the router
admits waiting requests into a running batch of n only once
``n × --waiting-served-ratio`` (0.3) of them wait or ``--max-waiting-tokens``
(20) decode steps passed (``backends/v3/src/backend.rs`` ``batching_task``).
The load is a batch of long requests plus a stream of short ones arriving one
at a time, each of which waits in the queue for up to 20 steps.
"""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from modelfleet.autoscale.observations import Observation
from modelfleet.autoscale.policy import FleetSnapshot, PolicySettings, PolicyState, decide
from modelfleet.autoscale.scrape import ScrapeTarget, scrape_fleet
from support.engine_server import bounded_load

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

MODEL = "acme/tiny-mixtral"
CONCURRENCY = 10  # long requests at once; with the stream of one, under --max-concurrent-requests 16
REQUESTS = 200
MAX_TOKENS = 200  # the context is 256 tokens
# TGI has no ignore_eos, and greedy decoding of the tiny model's random weights meets its end-of-sequence
# token within ten tokens; sampled, it is one token in a thousand, so requests run about MAX_TOKENS long.
SAMPLED = {"temperature": 1.0, "seed": 7}
LOAD_DEADLINE_S = 240.0
POLLS = 600  # scrapes, 0.1 s apart at most: the loop is bounded too
SETTINGS = PolicySettings(min_replicas=1, max_replicas=8, target_queue_depth=1.0,
                          scale_up_window_s=0, scale_down_window_s=5, batch_limit=4)


def scrape(tgi) -> Observation:
    (observation,) = asyncio.run(scrape_fleet("tgi", [ScrapeTarget("tgi-0", tgi.server.base_url)]))
    assert not observation.missing, observation.error
    return observation


async def scrape_under_load(tgi, completed_before: float) -> tuple[list[Observation], list[int]]:
    """Scrapes while ``CONCURRENCY`` completions stream in, until one has shown a queue and one shows a request
    finished since ``completed_before`` (or the load ends): stopping the load cancels what is still running, and
    on a starved machine the queue can show before the first request ends."""
    stop = asyncio.Event()
    batch = bounded_load(tgi.server.base_url, MODEL, concurrency=CONCURRENCY, total=REQUESTS, max_tokens=MAX_TOKENS,
                         deadline_s=LOAD_DEADLINE_S, stop=stop, extra_body=SAMPLED)
    stream = bounded_load(tgi.server.base_url, MODEL, concurrency=1, total=REQUESTS, max_tokens=4,
                          deadline_s=LOAD_DEADLINE_S, stop=stop, extra_body=SAMPLED)
    load = asyncio.ensure_future(asyncio.gather(batch, stream))
    seen: list[Observation] = []
    target = ScrapeTarget("tgi-0", tgi.server.base_url)
    queued = finished = False
    for _ in range(POLLS):
        (observation,) = await scrape_fleet("tgi", [target])
        seen.append(observation)
        if (current := observation.load) is not None:
            queued = queued or (current.waiting > 0 and current.running > 0)
            finished = finished or (current.completed or 0.0) > completed_before
        if (queued and finished) or load.done():
            break
        await asyncio.sleep(0.1)
    stop.set()
    long, short = await load
    return seen, long + short


def test_queue_running_and_completed_move_under_load_and_the_policy_scales_up(tgi):
    tgi.server.generate()  # /metrics is empty until a first request (TgiServer.generate)
    before = scrape(tgi).load
    assert before is not None and before.completed is not None, before
    seen, statuses = asyncio.run(scrape_under_load(tgi, before.completed))
    assert set(statuses) <= {200}, statuses[:5]
    loads = [o.load for o in seen if o.load is not None]
    assert loads and all(o.error is None for o in seen), seen[-3:]
    assert max(load.running for load in loads) > 0, loads[-3:]
    queued = [load for load in loads if load.waiting > 0]
    assert queued, f"no scrape showed tgi_queue_size > 0; last: {loads[-3:]}"
    after = scrape(tgi).load
    assert after.completed > before.completed  # tgi_request_success counts what the load finished

    # The policy sizes the fleet on requests in flight (running + waiting): a scale-up it confirms on the
    # next decision when the queue alone is within target.
    busy = FleetSnapshot(replicas=1, ready=1, observations=(Observation("tgi-0", load=queued[-1]),))
    first = decide(SETTINGS, busy, PolicyState(), now=0.0)
    up = first if first.reason == "ScaleUp" else decide(SETTINGS, busy, first.state, now=1.0)
    assert up.reason == "ScaleUp" and up.replicas > 1, (first.message, up.message)


def test_requests_beyond_max_concurrent_requests_are_refused_with_429(tgi):
    args = tgi.pod.engine_args
    limit = int(args[args.index("--max-concurrent-requests") + 1])
    assert limit == 16  # QUEUE_ALLOWANCE 4 x maxConcurrency 4

    async def burst() -> list[tuple[int, dict]]:
        body = {"model": MODEL, "prompt": "Write a long story.", "max_tokens": MAX_TOKENS, **SAMPLED}
        async with aiohttp.ClientSession() as session:
            async def one() -> tuple[int, dict]:
                async with session.post(f"{tgi.server.base_url}/v1/completions", json=body) as response:
                    return response.status, json.loads(await response.read())
            return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(limit + 8))), timeout=600)

    answers = asyncio.run(burst())
    statuses = [status for status, _ in answers]
    refused = [body for status, body in answers if status == 429]
    # Each request runs seconds and all are sent at once: the first `limit` are taken, the rest refused
    # (router/src/infer/mod.rs Infer::generate_stream: try_acquire_owned on the semaphore, else Overloaded).
    assert statuses.count(200) >= limit and refused, statuses
    assert statuses.count(200) + len(refused) == len(answers), statuses
    assert refused[0]["error_type"] == "overloaded", refused[0]
