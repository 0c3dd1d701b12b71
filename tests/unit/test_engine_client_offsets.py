"""The warm-up's reading of TGI's /tokenize spans (runtime.engine_client.EngineClient.token_ends)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from modelfleet.runtime.engine_client import EngineClient


def ends_from(spans: list[dict]) -> list[int] | None:
    async def tokenize(request: web.Request) -> web.Response:
        return web.json_response(spans)

    async def go() -> list[int] | None:
        app = web.Application()
        app.router.add_post("/tokenize", tokenize)
        async with TestServer(app) as server, aiohttp.ClientSession() as session:
            client = EngineClient(session, str(server.make_url("/")), "tgi", "m")
            return await client.token_ends("Größe café")

    return asyncio.run(go())


def test_the_ends_of_the_spans_tgi_reports():
    spans = [{"id": 1, "text": "Gr", "start": 0, "stop": 3}, {"id": 2, "text": "öße", "start": 3, "stop": 8}]
    assert ends_from(spans) == [3, 8]


def test_spans_without_offsets_are_no_offsets_at_all():
    # TGI's router on its Python tokenizer (it could not write its converted tokenizer.json) answers 0..0 for
    # every token: a cut there would send an empty prompt (HTTP 422 "`inputs` cannot be empty", real node).
    spans = [{"id": 41, "text": "", "start": 0, "stop": 0}, {"id": 84, "text": "", "start": 0, "stop": 0}]
    assert ends_from(spans) is None
