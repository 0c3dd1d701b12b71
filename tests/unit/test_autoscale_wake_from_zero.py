"""Waking from zero end to end on this machine: a request held by the real router is what the autoscaler reads
at zero (the router's admin port, through the operator's scraper), the policy wakes a replica, the request is
answered once one is ready, and the first request's wait reaches status.lastWake."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from modelfleet.api import LLMDeploymentStatus
from modelfleet.api.runtime_args import RouterArgs
from modelfleet.api.spec import AutoscalingSpec
from modelfleet.autoscale.evaluate import evaluate
from modelfleet.autoscale.observations import RouterReading
from modelfleet.autoscale.policy import Decision, PolicySettings, PolicyState
from modelfleet.autoscale.router_scrape import combine, parse_router_metrics
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.controller.decide.autoscale import decision_status
from modelfleet.runtime.router.server import serve
from support.fake_dns import FakeDNS

IDLE_ENGINE_METRICS = "vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:request_success_total 1\n"
SETTINGS = PolicySettings.from_spec(AutoscalingSpec(enabled=True, min_replicas=0, max_replicas=4), batch_limit=8)


def fake_engine() -> web.Application:
    async def completion(_request: web.Request) -> web.Response:
        return web.json_response({"choices": [{"text": "hi"}]})

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(text=IDLE_ENGINE_METRICS)

    app = web.Application()
    app.router.add_post("/v1/completions", completion)
    app.router.add_get("/metrics", metrics)
    return app


def test_a_held_request_wakes_the_fleet_and_its_wait_reaches_the_status():
    async def go():
        async with TestServer(fake_engine(), host="127.0.0.1") as engine, aiohttp.ClientSession() as session:
            dns = FakeDNS()  # no A record: no replica is ready
            port, admin_port = unused_port(), unused_port()
            args = RouterArgs(endpoints_dns="tiny-engines.llm.svc", endpoints_port=engine.port, host="127.0.0.1",
                              port=port, admin_port=admin_port, dns_refresh_seconds=0.01, drain_delay_seconds=0)
            stop, ready = asyncio.Event(), asyncio.Event()
            router = asyncio.create_task(serve(args, stop, resolve=dns, ready=ready))
            await ready.wait()
            routers = [ScrapeTarget("tiny-router-0", f"http://127.0.0.1:{admin_port}")]

            async def decide(replicas: int, ready_engines: list[ScrapeTarget], state: PolicyState) -> Decision:
                return await evaluate("vllm", SETTINGS, replicas=replicas, ready=ready_engines, state=state,
                                      now=10.0, session=session, routers=routers)

            idle = await decide(0, [], PolicyState(since=0.0))
            assert (idle.replicas, idle.reason, idle.router.held) == (0, "Idle", 0)

            request = asyncio.create_task(session.post(f"http://127.0.0.1:{port}/v1/completions", json={}))
            woken = idle
            while woken.reason == "Idle":  # a rendezvous with the router holding the request, not a timing claim
                await asyncio.sleep(0.01)
                woken = await decide(0, [], idle.state)
            assert (woken.replicas, woken.reason, woken.router.held) == (1, "WakeUp", 1)
            assert not request.done()

            dns.answer = ["127.0.0.1"]  # the replica turned ready: its A record appears
            response = await request
            assert response.status == 200 and (await response.json())["choices"][0]["text"] == "hi"

            served = await decide(1, [ScrapeTarget("tiny-0", f"http://127.0.0.1:{engine.port}")], woken.state)
            assert served.replicas == 1 and served.router.held == 0
            assert served.router.wake_wait_seconds is not None and served.router.wake_wait_seconds > 0
            status = decision_status(served, LLMDeploymentStatus(held_requests=1), now="2026-12-06T04:00:00Z")
            assert status.held_requests == 0
            assert status.last_wake is not None and status.last_wake.wait_seconds >= 0
            assert status.last_wake.time.endswith("Z")
            stop.set()
            await router

    asyncio.run(go())


def test_a_router_that_cannot_be_read_makes_the_held_count_unknown_not_zero():
    async def go():
        async with aiohttp.ClientSession() as session:
            routers = [ScrapeTarget("tiny-router-0", f"http://127.0.0.1:{unused_port()}")]
            decision = await evaluate("vllm", SETTINGS, replicas=0, ready=[], state=PolicyState(since=0.0), now=10.0,
                                      session=session, routers=routers)
            assert decision.router.held is None and "tiny-router-0" in decision.router.error
            assert (decision.replicas, decision.reason) == (1, "MetricsMissing")

    asyncio.run(go())


def test_no_router_pod_ready_before_any_was_read_keeps_the_fleet_at_zero():
    async def go():
        async with aiohttp.ClientSession() as session:
            decision = await evaluate("vllm", SETTINGS, replicas=0, ready=[], state=PolicyState(since=0.0), now=10.0,
                                      session=session, routers=[])
            assert decision.router.held is None and decision.router.error == "no router pod is ready"
            assert (decision.replicas, decision.reason) == (0, "WaitingForRouters")

    asyncio.run(go())


def test_the_held_counts_add_up_and_the_newest_wake_wins():
    a = parse_router_metrics("modelfleet_router_held_requests 2\nmodelfleet_router_last_wake_wait_seconds 80\n"
                             "modelfleet_router_last_wake_timestamp_seconds 1.7e9\n")
    b = parse_router_metrics("modelfleet_router_held_requests 3\nmodelfleet_router_last_wake_wait_seconds 95\n"
                             "modelfleet_router_last_wake_timestamp_seconds 1.8e9\n")
    reading = combine([a, b])
    assert reading == RouterReading(held=5, wake_time="2027-01-15T08:00:00Z", wake_wait_seconds=95)
    assert combine([a, "tiny-router-1: refused"]).held is None
    assert combine([]).held is None


def test_no_router_read_leaves_the_zero_fields_unset():
    decision = Decision(replicas=2, previous=2, recommendation=2, queue_depth=0.0, reason="Steady", message="",
                        state=PolicyState())
    status = decision_status(decision, LLMDeploymentStatus(held_requests=3), now="2026-12-06T04:00:00Z")
    assert status.held_requests is None and status.last_wake is None
