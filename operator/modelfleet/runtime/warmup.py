"""``modelfleet warmup``: the native sidecar that keeps a cold replica out of the Service.

It serves ``GET /ready`` (the sidecar's readiness probe; a pod is Ready only
when all its containers are) and ``GET /metrics`` on one port, and loops:

1. wait until the engine's health endpoint answers 200 (``/ready``: 503);
2. send the warm-up set (``warmup_set``), at most ``--timeout-seconds``
   from that first healthy answer; past it, log that the replica turns
   Ready unwarmed (a replica that never turns Ready helps nobody);
3. ``/ready`` answers 200, a JSON line sums the warm-up up, ``/metrics``
   has its duration and request latencies;
4. watch the engine's health; when it stops answering (the kubelet
   restarted the engine container, or it crashed), ``/ready`` is 503 again
   and the loop starts over: a restarted engine is as cold as a new one.

"Stops answering" is ``GONE_AFTER`` failed checks in a row, a refused
connection or a non-200 answer each; a check that times out counts for
nothing, because an engine busy with a burst of traffic may be slow to
answer but has not gone cold. If the engine goes away during a warm-up, the
warm-up is abandoned and starts again when the engine is back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from modelfleet.api.runtime_args import WarmupArgs

from .engine_client import EngineClient
from .warmup_set import RequestRecord, WarmupReport, WarmupRun

HEALTH_POLL_S = 1.0
GONE_AFTER = 3
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

WAITING = "waiting for the engine"
WARMING = "warming"
READY = "ready"


class WarmupMetrics:
    """The sidecar's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ready = Gauge("modelfleet_warmup_ready", "1 when the engine is warm and the replica may take traffic.",
                           registry=self.registry)
        self.duration = Gauge("modelfleet_warmup_duration_seconds",
                              "Length of the last warm-up, from the engine's first healthy answer.",
                              registry=self.registry)
        self.runs = Counter("modelfleet_warmup_runs", "Warm-ups finished, by outcome (complete, timed_out).",
                            ["outcome"], registry=self.registry)
        self.latency = Histogram("modelfleet_warmup_request_duration_seconds",
                                 "Latency of warm-up requests, by the concurrency they were sent at.",
                                 ["concurrency"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.failed = Counter("modelfleet_warmup_failed_requests", "Warm-up requests that did not return 200.",
                              registry=self.registry)
        self.restarts = Counter("modelfleet_warmup_engine_restarts",
                                "Times the engine went away after a warm-up and had to be warmed again.",
                                registry=self.registry)
        self.coverage = Gauge("modelfleet_warmup_expert_coverage_ratio",
                              "Share of the (layer, expert) pairs warm-up tokens were routed to; -1 when unknown.",
                              registry=self.registry)
        self.coverage.set(-1)

    def observe(self, record: RequestRecord) -> None:
        self.latency.labels(str(record.concurrency)).observe(record.latency_s)
        if record.status != 200:
            self.failed.inc()


class Sidecar:
    def __init__(self, args: WarmupArgs, log: Callable[[str], None]) -> None:
        self.args = args
        self.log = log
        self.phase = WAITING
        self.metrics = WarmupMetrics()
        self.summary: dict[str, Any] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ready", self.handle_ready)
        app.router.add_get("/metrics", self.handle_metrics)
        return app

    async def handle_ready(self, request: web.Request) -> web.Response:
        status = 200 if self.phase == READY else 503
        return web.json_response({"phase": self.phase, "last_warmup": self.summary}, status=status)

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def supervise(self, client: EngineClient) -> None:
        """Warm the engine each time it comes up; never returns."""
        warmed_before = False
        while True:
            self._enter(WAITING)
            await self.wait_healthy(client)
            if warmed_before:
                self.metrics.restarts.inc()
            self._enter(WARMING)
            warmed_before = await self.warm_unless_gone(client)

    async def wait_healthy(self, client: EngineClient) -> None:
        self.log(f"waiting for the engine at {client.health_url}")
        while await client.health() is not True:
            await asyncio.sleep(HEALTH_POLL_S)
        self.log("the engine answers its health check; warming it up")

    async def warm_unless_gone(self, client: EngineClient) -> bool:
        """Warm, then stay Ready until the engine goes away; False when it went away mid-warm-up."""
        gone = asyncio.create_task(self.until_gone(client))
        warming = asyncio.create_task(self.warm(client))
        try:
            await asyncio.wait({gone, warming}, return_when=asyncio.FIRST_COMPLETED)
            if not warming.done():
                self.log("the engine went away during the warm-up; it is warmed again when it is back")
                return False
            warming.result()  # a fault of the sidecar's own ends it; the kubelet restarts it
            self._enter(READY)
            await gone
            self.log("the engine stopped answering its health check; the replica is not Ready until it is warm again")
            return True
        finally:
            for task in (gone, warming):
                task.cancel()
            await asyncio.gather(gone, warming, return_exceptions=True)

    async def until_gone(self, client: EngineClient) -> None:
        failures = 0
        while failures < GONE_AFTER:
            await asyncio.sleep(HEALTH_POLL_S)
            healthy = await client.health()
            if healthy is not None:
                failures = 0 if healthy else failures + 1

    async def warm(self, client: EngineClient) -> None:
        args = self.args  # the command line the renderer wrote
        run = WarmupRun(client, args.max_model_len, args.max_concurrency, args.num_experts, self.log,
                        observe=self.metrics.observe)
        started = time.monotonic()
        try:
            await asyncio.wait_for(run.run(), timeout=args.timeout_seconds)
            outcome = "complete"
        except TimeoutError:
            outcome = "timed_out"
            self.log(f"the warm-up is not done after {args.timeout_seconds:g} s: the replica turns Ready unwarmed")
        self.finish(run.report, outcome, time.monotonic() - started)

    def finish(self, report: WarmupReport, outcome: str, duration_s: float) -> None:
        self.summary = summarise(report, outcome, duration_s, self.args.num_experts)
        self.metrics.duration.set(duration_s)
        self.metrics.runs.labels(outcome).inc()
        experts = self.summary["experts"]
        if experts is not None and experts["pairs"]:
            self.metrics.coverage.set(experts["pairs_hit"] / experts["pairs"])
        self.log(json.dumps(self.summary))

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.metrics.ready.set(1 if phase == READY else 0)


def summarise(report: WarmupReport, outcome: str, duration_s: float, num_experts: int | None) -> dict[str, Any]:
    """The warm-up as one JSON object: what the log line and ``/ready`` show."""
    latencies = [r.latency_s for r in report.records]
    by_concurrency = {}
    for level in sorted({r.concurrency for r in report.records}):
        at_level = [r.latency_s for r in report.records if r.concurrency == level]
        by_concurrency[str(level)] = {"requests": len(at_level), "p50_s": _percentile(at_level, 50),
                                      "max_s": _percentile(at_level, 100)}
    return {
        "event": "warmup",
        "outcome": outcome,
        "duration_s": round(duration_s, 3),
        "requests": len(report.records),
        "failed": sum(1 for r in report.records if r.status != 200),
        "latency_s": {"p50": _percentile(latencies, 50), "p90": _percentile(latencies, 90),
                      "max": _percentile(latencies, 100)},
        "by_concurrency": by_concurrency,
        "long_prompt_tokens": report.long_prompt_tokens,
        "experts": report.coverage.summary(num_experts) if report.coverage.hit else None,
        "coverage_waves": report.coverage_waves,
    }


def _percentile(values: list[float], percent: int) -> float | None:
    """Nearest-rank percentile, rounded to the millisecond; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return round(ordered[rank - 1], 3)


async def serve(args: WarmupArgs, log: Callable[[str], None], stop: asyncio.Event) -> None:
    """Serve ``/ready`` and ``/metrics`` and supervise the engine until ``stop`` is set."""
    sidecar = Sidecar(args, log)
    runner = web.AppRunner(sidecar.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    log(f"serving /ready and /metrics on {args.host}:{args.port}")
    # No overall timeout: the warm-up's own deadline bounds the completions, health checks have theirs.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                                    connector=aiohttp.TCPConnector(limit=0))
    try:
        client = EngineClient(session, args.engine_url, args.engine, args.served_model_name)
        supervisor = asyncio.create_task(sidecar.supervise(client))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({supervisor, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if supervisor in done:
            stopping.cancel()
            supervisor.result()  # only a fault of its own ends the supervisor
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
    finally:
        await session.close()
        await runner.cleanup()


def run_sidecar(args: WarmupArgs, log: Callable[[str], None]) -> int:
    """Run until SIGTERM (the kubelet stopping the pod); 0 then."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(args, log, stop)

    asyncio.run(main())
    return 0
