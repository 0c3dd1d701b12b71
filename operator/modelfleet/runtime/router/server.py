"""The router's two ports and its drain.

User traffic on ``--port`` (8000, the engines' own, so the Service keeps its port whether it selects the
router or the engines); probes and metrics on ``--admin-port``. On SIGTERM: ``/readyz`` turns 503 so the
Service stops sending new connections, the router keeps serving for ``--drain-delay-seconds`` while that
spreads, then stops accepting and lets requests in flight and held finish, for at most
``--drain-timeout-seconds`` (aiohttp's graceful shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelfleet.api.runtime_args import RouterArgs

from .discovery import Resolve, discover, keep_static, resolve_a_records
from .metrics import RouterMetrics
from .pool import Pool
from .relay import Relay

log = logging.getLogger(__name__)


class Draining:
    """Whether SIGTERM came: /readyz reads it."""

    def __init__(self) -> None:
        self.now = False


def admin_app(metrics: RouterMetrics, draining: Draining) -> web.Application:
    """``/healthz``, ``/readyz`` and ``/metrics``. Ready with no replica ready too: the router must take
    requests then, to hold them (and wake a fleet scaled to zero)."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        if draining.now:
            return web.Response(status=503, text="draining\n")
        return web.Response(text="ok\n")

    async def metrics_page(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    return app


def user_app(args: RouterArgs, pool: Pool, metrics: RouterMetrics) -> web.Application:
    relay = Relay(args, pool, metrics)
    app = web.Application(client_max_size=args.max_body_bytes)
    app.on_startup.append(relay.open)
    app.on_cleanup.append(relay.close)
    app.router.add_route("*", "/{tail:.*}", relay.handle)
    return app


async def serve(args: RouterArgs, stop: asyncio.Event, resolve: Resolve = resolve_a_records,
                ready: asyncio.Event | None = None) -> None:
    """Run the router until ``stop`` is set (SIGTERM), then drain. ``ready`` is set once both ports listen."""
    metrics = RouterMetrics()
    pool = Pool(metrics, args.max_held, args.max_hold_seconds, args.affinity_load_bound)
    draining = Draining()
    if args.endpoints_dns:
        finding = discover(resolve, args.endpoints_dns, args.endpoints_port, args.dns_refresh_seconds, pool, metrics)
    else:
        finding = keep_static(list(args.endpoints_static), args.dns_refresh_seconds, pool)
    # Discovery outlives the stop: held requests still need replicas while the router drains.
    discovery = asyncio.create_task(finding)
    # handler_cancellation: a client that goes away ends its handler, so a held request leaves the queue
    # and a stream stops its engine request.
    users = web.AppRunner(user_app(args, pool, metrics), handler_cancellation=True, access_log=None,
                          shutdown_timeout=args.drain_timeout_seconds)
    admin = web.AppRunner(admin_app(metrics, draining), access_log=None)
    try:
        await users.setup()
        await admin.setup()
        await web.TCPSite(users, args.host, args.port, backlog=4096).start()
        await web.TCPSite(admin, args.host, args.admin_port).start()
        log.info("router serving on %s:%s (admin %s), routing %s", args.host, args.port, args.admin_port, args.routing)
        if ready is not None:
            ready.set()
        await stop.wait()
        draining.now = True
        log.info("draining: %s s unready, then up to %s s for requests in flight", args.drain_delay_seconds,
                 args.drain_timeout_seconds)
        await asyncio.sleep(args.drain_delay_seconds)
        await users.cleanup()
        log.info("drained")
    finally:
        discovery.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await discovery
        await users.cleanup()
        await admin.cleanup()
