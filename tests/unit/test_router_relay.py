"""The router's relay against fake engines (aiohttp test servers): streams untouched, holds, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port

from modelfleet.api.runtime_args import RouterArgs
from modelfleet.runtime.router.metrics import RouterMetrics
from modelfleet.runtime.router.pool import Pool
from modelfleet.runtime.router.server import user_app
from support.stepped_sse import stepped_sse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def router_args(**overrides: object) -> RouterArgs:
    return RouterArgs.model_validate({"endpoints_static": ("unused:1",), **overrides})


@asynccontextmanager
async def engine(handler: Handler) -> AsyncIterator[str]:
    """A fake engine answering every path with ``handler``; yields its host:port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        yield f"{server.host}:{server.port}"
    finally:
        await server.close()


@asynccontextmanager
async def router(args: RouterArgs, *addrs: str) -> AsyncIterator[tuple[TestClient, Pool, RouterMetrics]]:
    metrics = RouterMetrics()
    pool = Pool(metrics, args.max_held, args.max_hold_seconds, args.affinity_load_bound)
    pool.update(list(addrs))
    async with TestClient(TestServer(user_app(args, pool, metrics))) as client:
        yield client, pool, metrics


def sample(metrics: RouterMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_sse_chunks_are_relayed_one_by_one_and_untouched():
    chunks = [b'data: {"choices":[{"text":" Hello"}]}\n\n', b": a comment line, kept\n\n",
              'data: {"choices":[{"text":" é"}]}\n\n'.encode(), b"data: [DONE]\n\n"]
    next_chunk: asyncio.Queue[bytes | None] = asyncio.Queue()
    seen: list[tuple[str, str, bytes]] = []

    async def go():
        async with engine(stepped_sse(next_chunk, seen)) as addr, router(router_args(), addr) as (client, _, _):
            body = b'{"model":"m","prompt":"hi","stream":true}'
            async with client.post("/v1/completions?x=1", data=body) as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                for chunk in chunks:
                    await next_chunk.put(chunk)
                    assert await resp.content.readexactly(len(chunk)) == chunk
                await next_chunk.put(None)
                assert await resp.content.read() == b""
            assert seen == [("/v1/completions", "x=1", body)]

    asyncio.run(go())


def test_tgi_paths_bodies_and_the_engines_own_errors_pass_through():
    got: list[tuple[str, bytes]] = []

    async def tgi(request: web.Request) -> web.StreamResponse:
        got.append((request.path, await request.read()))
        return web.json_response({"error": "Input validation error"}, status=422)

    async def go():
        async with engine(tgi) as addr, router(router_args(), addr) as (client, _, metrics):
            body = b'{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":20}}'
            async with client.post("/generate", data=body) as resp:
                assert resp.status == 422
                assert await resp.json() == {"error": "Input validation error"}
            assert got == [("/generate", body)]
            assert sample(metrics, "modelfleet_router_routed_total", replica=addr) == 1
            assert sample(metrics, "modelfleet_router_requests_total") == 1

    asyncio.run(go())


def test_a_full_hold_queue_answers_429_with_retry_after_and_the_reason():
    async def go():
        async with router(router_args(max_held=0)) as (client, _, metrics):
            async with client.post("/v1/completions", data=b"{}") as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "5"
                body = await resp.json()
            assert body["reason"] == "hold_queue_full" and body["error"]["code"] == 429
            assert sample(metrics, "modelfleet_router_rejected_total", reason="hold_queue_full") == 1

    asyncio.run(go())


def test_a_hold_that_runs_out_answers_503_with_the_reason():
    async def go():
        async with router(router_args(max_hold_seconds=0)) as (client, _, metrics):
            async with client.post("/v1/chat/completions", data=b"{}") as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "5"
                assert (await resp.json())["reason"] == "no_ready_replica"
            assert sample(metrics, "modelfleet_router_rejected_total", reason="no_ready_replica") == 1

    asyncio.run(go())


def test_a_held_request_is_served_when_the_first_replica_is_ready():
    async def answer(_request: web.Request) -> web.StreamResponse:
        return web.Response(text="answer")

    async def go():
        async with engine(answer) as addr, router(router_args()) as (client, pool, metrics):
            request = asyncio.create_task(client.post("/v1/completions", data=b"{}"))
            while pool.held == 0:
                await asyncio.sleep(0)
            assert sample(metrics, "modelfleet_router_held_requests") == 1
            pool.update([addr])
            async with await request as resp:
                assert await resp.text() == "answer"

    asyncio.run(go())


def test_a_refused_connection_is_tried_on_another_replica():
    async def ok(_request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def go():
        dead = f"127.0.0.1:{unused_port()}"
        async with engine(ok) as addr, router(router_args(), dead, addr) as (client, _, metrics):
            for _ in range(4):
                async with client.post("/v1/completions", data=b'{"p":1}') as resp:
                    assert (resp.status, await resp.text()) == (200, "ok")
            assert sample(metrics, "modelfleet_router_rejected_total", reason="upstream_error") == 0

    asyncio.run(go())


def test_a_replica_failing_before_its_answer_is_not_tried_again():
    calls = []

    async def crash(request: web.Request) -> web.StreamResponse:
        calls.append(request.path)
        assert request.transport is not None
        request.transport.close()  # the request reached the engine: sending it again could run it twice
        return web.Response()

    async def go():
        async with engine(crash) as addr, router(router_args(), addr) as (client, _, metrics):
            async with client.post("/v1/completions", data=b"{}") as resp:
                assert resp.status == 502
                assert (await resp.json())["reason"] == "upstream_error"
            assert calls == ["/v1/completions"]
            assert sample(metrics, "modelfleet_router_rejected_total", reason="upstream_error") == 1

    asyncio.run(go())


def test_a_body_over_the_limit_answers_413():
    async def go():
        async with router(router_args(max_body_bytes=4), "127.0.0.1:1") as (client, _, _), \
                client.post("/v1/completions", data=b'{"long":1}') as resp:
            assert resp.status == 413
            assert (await resp.json())["reason"] == "body_too_large"

    asyncio.run(go())


def test_prefix_routing_keeps_a_conversation_on_one_replica():
    async def go():
        async with engine(named("a")) as a, engine(named("b")) as b, engine(named("c")) as c:
            # 30 characters: the system prompt and the first turn's role, not the turn itself.
            args = router_args(routing="prefix", affinity_prefix_chars=30)
            async with router(args, a, b, c) as (client, _, _):
                answers = set()
                for turn in range(6):
                    body = json.dumps({"messages": [{"role": "system", "content": "You answer in French."},
                                                    {"role": "user", "content": f"turn {turn}"}]})
                    async with client.post("/v1/chat/completions", data=body) as resp:
                        answers.add(await resp.text())
                assert len(answers) == 1, answers

    def named(name: str) -> Handler:
        async def answer(_request: web.Request) -> web.StreamResponse:
            return web.Response(text=name)

        return answer

    asyncio.run(go())


def test_a_client_that_goes_away_while_held_is_counted_and_leaves_the_queue():
    async def go():
        args = router_args()
        metrics = RouterMetrics()
        pool = Pool(metrics, args.max_held, args.max_hold_seconds, args.affinity_load_bound)
        runner = aiohttp.web.AppRunner(user_app(args, pool, metrics), handler_cancellation=True)
        await runner.setup()
        port = unused_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession() as session:
                request = asyncio.create_task(session.post(f"http://127.0.0.1:{port}/v1/completions", data=b"{}"))
                while pool.held == 0:
                    await asyncio.sleep(0)
                request.cancel()  # the client closes its connection
            while pool.held:
                await asyncio.sleep(0)
            assert sample(metrics, "modelfleet_router_rejected_total", reason="client_closed") == 1
        finally:
            await runner.cleanup()

    asyncio.run(go())
