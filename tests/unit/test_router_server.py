"""The router's discovery (DNS), probes, drain and command line."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from pydantic import ValidationError

from modelfleet.api.runtime_args import RouterArgs
from modelfleet.cli.main import build_parser
from modelfleet.runtime.router.discovery import refresh
from modelfleet.runtime.router.metrics import RouterMetrics
from modelfleet.runtime.router.pool import Pool
from modelfleet.runtime.router.server import Draining, admin_app, serve
from support.fake_dns import FakeDNS
from support.stepped_sse import stepped_sse


def pool_and_metrics(*addrs: str) -> tuple[Pool, RouterMetrics]:
    metrics = RouterMetrics()
    p = Pool(metrics, 10, 3600, 1.25)
    p.update(list(addrs))
    return p, metrics


def test_discovery_follows_the_a_records():
    async def go():
        p, metrics = pool_and_metrics()
        dns = FakeDNS()
        dns.answer = ["10.0.0.1", "10.0.0.2"]
        await refresh(dns, "mixtral-engines.llm.svc", 8000, p, metrics)
        assert list(p.snapshot()) == ["10.0.0.1:8000", "10.0.0.2:8000"]
        assert dns.asked == ["mixtral-engines.llm.svc"]
        assert metrics.registry.get_sample_value("modelfleet_router_ready_replicas") == 2

    asyncio.run(go())


def test_no_records_is_a_fleet_with_no_ready_replica():
    async def go():
        p, metrics = pool_and_metrics("10.0.0.1:8000")
        dns = FakeDNS()
        dns.answer = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        await refresh(dns, "x", 8000, p, metrics)
        assert p.snapshot() == {}
        assert metrics.registry.get_sample_value("modelfleet_router_discovery_errors_total") == 0

    asyncio.run(go())


@pytest.mark.parametrize("error", [socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), OSError("unreachable")])
def test_a_failed_lookup_keeps_the_last_set(error):
    async def go():
        p, metrics = pool_and_metrics("10.0.0.1:8000")
        dns = FakeDNS()
        dns.answer = error
        await refresh(dns, "x", 8000, p, metrics)
        assert list(p.snapshot()) == ["10.0.0.1:8000"]
        assert metrics.registry.get_sample_value("modelfleet_router_discovery_errors_total") == 1

    asyncio.run(go())


def test_readyz_turns_503_while_draining_and_metrics_are_served():
    async def go():
        draining = Draining()
        async with TestClient(TestServer(admin_app(RouterMetrics(), draining))) as client:
            assert (await client.get("/healthz")).status == 200
            assert (await client.get("/readyz")).status == 200
            text = await (await client.get("/metrics")).text()
            for name in ("modelfleet_router_held_requests", "modelfleet_router_requests_total",
                         "modelfleet_router_hold_seconds_bucket", 'modelfleet_router_rejected_total{reason="'):
                assert name in text
            draining.now = True
            assert (await client.get("/readyz")).status == 503
            assert (await client.get("/healthz")).status == 200

    asyncio.run(go())


def test_on_sigterm_a_stream_in_flight_is_finished_before_the_router_exits():
    next_chunk: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def go():
        app = web.Application()
        app.router.add_post("/v1/completions", stepped_sse(next_chunk))
        async with TestServer(app) as engine:
            port, admin_port = unused_port(), unused_port()
            args = RouterArgs(endpoints_static=(f"{engine.host}:{engine.port}",), host="127.0.0.1", port=port,
                              admin_port=admin_port, drain_delay_seconds=0)
            stop, ready = asyncio.Event(), asyncio.Event()
            router = asyncio.create_task(serve(args, stop, ready=ready))
            await ready.wait()
            async with aiohttp.ClientSession() as session, \
                    session.post(f"http://127.0.0.1:{port}/v1/completions", data=b"{}") as resp:
                await next_chunk.put(b"data: 1\n\n")
                assert await resp.content.readexactly(9) == b"data: 1\n\n"
                stop.set()  # SIGTERM
                while (await session.get(f"http://127.0.0.1:{admin_port}/readyz")).status != 503:
                    await asyncio.sleep(0)  # a rendezvous with the router's drain, not a timing claim
                assert not router.done()  # unready, and still relaying the stream in flight
                await next_chunk.put(b"data: 2\n\n")
                await next_chunk.put(b"data: [DONE]\n\n")
                await next_chunk.put(None)
                assert await resp.content.read() == b"data: 2\n\ndata: [DONE]\n\n"
            await router  # drained and returned

    asyncio.run(go())


def test_the_command_line_reads_every_setting():
    namespace = build_parser().parse_args(
        ["router", "--endpoints-dns", "m-engines.llm.svc", "--routing", "prefix", "--max-held", "50",
         "--max-hold-seconds", "120"]
    )
    args = RouterArgs.from_namespace(namespace)
    assert (args.endpoints_dns, args.routing, args.max_held, args.max_hold_seconds) == (
        "m-engines.llm.svc", "prefix", 50, 120)
    assert (args.port, args.admin_port, args.endpoints_port) == (8000, 9090, 8000)
    assert RouterArgs.parse(args.to_argv()) == args


@pytest.mark.parametrize("argv", [["router"], ["router", "--endpoints-dns", "a", "--endpoints-static", "b:1"]])
def test_exactly_one_source_of_replicas(argv):
    with pytest.raises(ValidationError, match="exactly one of --endpoints-dns and --endpoints-static"):
        RouterArgs.from_namespace(build_parser().parse_args(argv))
