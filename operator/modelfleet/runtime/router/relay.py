"""The user-facing handler: hold until a replica is ready, pick one, relay its answer untouched.

Each chunk of the replica's answer is written to the client as it arrives (an SSE stream leaves chunk by
chunk, never buffered). The request body is read whole first: the prefix affinity reads it, and a
request whose connection was refused can be sent to another replica.
"""

from __future__ import annotations

import asyncio
import math

import aiohttp
from aiohttp import web

from modelfleet.api.runtime_args import RouterArgs

from .metrics import REASONS, RouterMetrics
from .pool import HoldTimeout, Pool, QueueFull
from .prefix import affinity_key

# Headers of one hop (RFC 9110 section 7.6.1) and the framing, which each side sets for itself.
HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                         "upgrade", "host", "content-length"})
# Replicas one request tries when connections are refused (a pod that has just gone, before the next DNS
# read says so). A request that reached a replica is never sent again: it may have run.
MAX_ATTEMPTS = 3


def reject(reason: str, message: str, retry_after_seconds: float) -> web.Response:
    """The router's own answer: the reason's status, OpenAI's error shape (what clients of both engines
    parse) with the reason on top, and a Retry-After a client can honour."""
    status = REASONS[reason]
    headers = {"Retry-After": str(math.ceil(retry_after_seconds))} if status in (429, 503) else None
    body = {"error": {"message": message, "type": reason, "code": status}, "reason": reason}
    return web.json_response(body, status=status, headers=headers)


class Relay:
    def __init__(self, args: RouterArgs, pool: Pool, metrics: RouterMetrics) -> None:
        self._args, self._pool, self._metrics = args, pool, metrics
        self._session: aiohttp.ClientSession | None = None

    async def open(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=90)  # streams end all the time: keep their
        # connections for the next ones; no limit, the engines' own queues bound the load
        timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=None)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._metrics.requests.inc()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject("body_too_large", "the request body is larger than the router's --max-body-bytes")
        key = affinity_key(body, self._args.affinity_prefix_chars) if self._args.routing == "prefix" else ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                lease = await self._pool.acquire(key)
            except QueueFull:
                return self._reject("hold_queue_full", "no replica is ready and the router holds as many "
                                    "requests as it may")
            except HoldTimeout:
                return self._reject("no_ready_replica", "no replica became ready within the router's "
                                    "--max-hold-seconds")
            except asyncio.CancelledError:  # the client went away while held: nobody to answer
                self._metrics.rejected.labels("client_closed").inc()
                raise
            try:
                return await self._relay(request, body, lease.addr)
            except aiohttp.ClientConnectorError as exc:  # never connected: the request did not reach it
                if attempt == MAX_ATTEMPTS:
                    return self._reject("upstream_error", f"the replica {lease.addr} refused: {exc}")
                self._pool.remove(lease.addr)  # until the next DNS read says otherwise
            except (aiohttp.ClientError, TimeoutError) as exc:
                return self._reject("upstream_error", f"the replica {lease.addr} failed: {exc}")
            finally:
                lease.release()
        raise AssertionError("unreachable: the last attempt returns")

    async def _relay(self, request: web.Request, body: bytes, addr: str) -> web.StreamResponse:
        assert self._session is not None, "Relay.open runs on the application's startup"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_HEADERS]
        forwarded = request.headers.get("X-Forwarded-For")
        headers.append(("X-Forwarded-For", f"{forwarded}, {request.remote}" if forwarded else str(request.remote)))
        async with self._session.request(request.method, f"http://{addr}{request.raw_path}", headers=headers,
                                         data=body, allow_redirects=False) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_HEADERS:
                    response.headers.add(key, value)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, TimeoutError):
                # The replica failed mid-answer: the headers are gone, so the only honest signal left is
                # an answer cut short. Closing the connection does that.
                self._metrics.rejected.labels("upstream_error").inc()
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write_eof()
            return response

    def _reject(self, reason: str, message: str) -> web.Response:
        self._metrics.rejected.labels(reason).inc()
        return reject(reason, message, self._args.retry_after_seconds)
