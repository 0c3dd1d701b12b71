"""A fake engine's streaming answer that the test steps chunk by chunk (for the router's tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

StreamHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def stepped_sse(next_chunk: asyncio.Queue[bytes | None],
                seen: list[tuple[str, str, bytes]] | None = None) -> StreamHandler:
    """A handler that writes an SSE chunk only when the test puts it on ``next_chunk`` (None ends the stream): the
    previous one must have reached the client already. ``seen`` records each request's path, query and body."""

    async def stepped(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append((request.path, request.query_string, await request.read()))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        while (chunk := await next_chunk.get()) is not None:
            await response.write(chunk)
        await response.write_eof()
        return response

    return stepped
