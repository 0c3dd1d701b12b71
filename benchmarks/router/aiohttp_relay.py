"""The Python data path the router would have: an aiohttp server relaying each request to one backend.

A prototype for the benchmark only, written the way a fast aiohttp relay is written: one keep-alive
client session, the body streamed through, every chunk written (and so flushed) as it arrives, no JSON
decoding; with --uvloop, uvloop's event loop instead of asyncio's (the benchmark runs both). Routing,
holding and metrics would only add to its cost per chunk.

    python aiohttp_relay.py --listen-port 8082 --backend http://127.0.0.1:9001 [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web

# Headers that belong to one hop (RFC 9110 section 7.6.1), not passed along.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


def build_app(backend: str) -> web.Application:
    app = web.Application()

    async def open_session(app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with session.request(
            request.method, backend + request.path_qs, headers=headers, data=await request.read()
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_HEADERS:
                    response.headers[key] = value
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", relay)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (pip install uvloop)")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(build_app(args.backend), host="127.0.0.1", port=args.listen_port, access_log=None, print=None,
               backlog=4096)  # as nginx and Go listen: 1,000 streams open within a second or two


if __name__ == "__main__":
    main()
