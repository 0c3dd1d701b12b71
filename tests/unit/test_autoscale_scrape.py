"""The scraper against a local aiohttp server serving recorded engine metrics, slow answers and garbage."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest
from aiohttp import web

from modelfleet.autoscale.scrape import (
    MAX_BODY_BYTES,
    MetricsError,
    ScrapeTarget,
    parse_metrics,
    scrape_fleet,
)
from modelfleet.engines.tgi import METRICS as TGI
from modelfleet.engines.vllm import METRICS as VLLM

METRICS = Path(__file__).resolve().parents[1] / "support" / "metrics"
VLLM_TEXT = (METRICS / "vllm-0.32.txt").read_text()  # recorded from vLLM 0.32 (CPU) under load
TGI_TEXT = (METRICS / "tgi-3.txt").read_text()  # written: a TGI that exports its max batch total tokens
TGI_REAL = (METRICS / "tgi-3.3.7.txt").read_text()  # recorded from TGI 3.3.7 (CPU) under load
SLOW_S = 5.0
TIMEOUT_S = 0.3


def text(body: str, status: int = 200):
    async def handler(_request):
        return web.Response(text=body, status=status, content_type="text/plain")
    return handler


async def slow(_request):
    await asyncio.sleep(SLOW_S)
    return web.Response(text=VLLM_TEXT)


ROUTES = {
    "/vllm/metrics": text(VLLM_TEXT),
    "/tgi/metrics": text(TGI_TEXT),
    "/old-vllm/metrics": text(VLLM_TEXT.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
    "/slow/metrics": slow,
    "/html/metrics": text("<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "/error/metrics": text("internal error", status=500),
    "/empty/metrics": text(""),
    "/no-queue/metrics": text("\n".join(line for line in VLLM_TEXT.splitlines()
                                        if not line.startswith("vllm:num_requests_waiting{"))),
    "/nan/metrics": text(VLLM_TEXT.replace('model_name="tiny-mixtral"} 10.0', 'model_name="tiny-mixtral"} NaN')),
    "/huge/metrics": text("# padding\n" * (MAX_BODY_BYTES // 10 + 10) + VLLM_TEXT),
}


@contextlib.asynccontextmanager
async def metrics_server():
    app = web.Application()
    for path, handler in ROUTES.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def scrape(kind: str, *paths: str, timeout_s: float = TIMEOUT_S):
    async def scenario():
        async with metrics_server() as base:
            targets = [ScrapeTarget(path.strip("/") or "root", f"{base}{path}") for path in paths]
            return await scrape_fleet(kind, targets, timeout_s=timeout_s)
    return asyncio.run(scenario())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_recorded_vllm_metrics_give_the_queue():
    (observation,) = scrape("vllm", "/vllm")
    assert observation.replica == "vllm"
    assert not observation.missing
    assert observation.load.waiting == 10
    assert observation.load.running == 2
    assert observation.load.completed == 0
    assert 0 <= observation.load.kv_cache_usage <= 1


def test_tgi_metrics_give_the_queue():
    (observation,) = scrape("tgi", "/tgi")
    assert (observation.load.waiting, observation.load.running, observation.load.completed) == (7, 32, 1822)
    assert observation.load.kv_cache_usage is None  # TGI exports none


def test_the_older_vllm_kv_cache_name_is_read():
    (observation,) = scrape("vllm", "/old-vllm")
    assert observation.load.kv_cache_usage == pytest.approx(0.000244, rel=1e-3)


def test_replicas_are_scraped_together_and_kept_in_order():
    observations = scrape("vllm", "/vllm", "/slow", "/tgi", "/vllm")
    assert [o.replica for o in observations] == ["vllm", "slow", "tgi", "vllm"]
    assert [o.missing for o in observations] == [False, True, True, False]  # TGI text lacks vLLM's gauges


def test_a_slow_replica_is_missing_not_zero():
    (observation,) = scrape("vllm", "/slow")
    assert observation.missing and observation.load is None
    assert "no answer within 0.3 s" in observation.error


@pytest.mark.parametrize("path, reason", [
    ("/html", "unparsable"),
    ("/error", "HTTP 500"),
    ("/empty", "no vllm:num_requests_waiting"),
    ("/no-queue", "no vllm:num_requests_waiting"),
    ("/nan", "non-finite"),
    ("/huge", "larger than"),
])
def test_garbage_is_missing_with_the_reason(path, reason):
    """About the content, not the clock: a generous timeout, so that a busy machine serving the
    4 MB body slowly does not turn "larger than" into "no answer"."""
    (observation,) = scrape("vllm", path, timeout_s=SLOW_S * 6)
    assert observation.missing
    assert reason in observation.error


def test_a_refused_connection_is_missing():
    async def scenario():
        return await scrape_fleet("vllm", [ScrapeTarget("gone", f"http://127.0.0.1:{closed_port()}")])
    (observation,) = asyncio.run(scenario())
    assert observation.missing and "ClientConnectorError" in observation.error


def test_data_parallel_engines_are_summed():
    two_engines = VLLM_TEXT + VLLM_TEXT.replace('engine="0"', 'engine="1"').replace(
        "# HELP", "# help").replace("# TYPE", "# type")
    load = parse_metrics(two_engines, VLLM)
    assert (load.waiting, load.running) == (20, 4)


def test_a_tgi_page_is_not_vllm_metrics():
    with pytest.raises(MetricsError, match="vllm:num_requests_waiting"):
        parse_metrics(TGI_TEXT, VLLM)
    assert parse_metrics(TGI_TEXT, TGI).waiting == 7


def test_one_timer_step_scrapes_and_decides():
    from modelfleet.autoscale.evaluate import evaluate
    from modelfleet.autoscale.policy import PolicySettings, PolicyState

    settings = PolicySettings(min_replicas=1, max_replicas=8, target_queue_depth=1.0, scale_up_window_s=0,
                              scale_down_window_s=300, batch_limit=2)

    async def scenario():
        async with metrics_server() as base:
            ready = [ScrapeTarget("a", f"{base}/vllm"), ScrapeTarget("b", f"{base}/slow")]
            both = await evaluate("vllm", settings, replicas=2, ready=ready, state=PolicyState(), now=0.0,
                                  timeout_s=TIMEOUT_S)
            one = await evaluate("vllm", settings, replicas=2, ready=ready[:1], state=PolicyState(), now=0.0)
            return both, one

    both, one = asyncio.run(scenario())
    assert both.reason == "MetricsMissing" and both.replicas > 2  # replica a alone proves the need
    assert one.reason == "ScaleUp" and one.queue_depth == 10


def test_the_kv_capacity_each_engine_reports_is_read():
    """vLLM: num_gpu_blocks × block_size of vllm:cache_config_info; TGI: tgi_batch_max_total_tokens."""
    assert parse_metrics(VLLM_TEXT, VLLM).kv_capacity_tokens == 8192 * 128
    assert parse_metrics(TGI_TEXT, TGI).kv_capacity_tokens == 157032
    (observation,) = scrape("vllm", "/vllm")
    assert observation.load.kv_capacity_tokens == 8192 * 128


def test_the_kv_capacity_says_which_series_it_came_from():
    assert parse_metrics(VLLM_TEXT, VLLM).kv_capacity_source == (
        "GET /metrics: vllm:cache_config_info num_gpu_blocks × block_size")
    assert parse_metrics(TGI_TEXT, TGI).kv_capacity_source == "GET /metrics: tgi_batch_max_total_tokens"


def test_a_real_tgi_3_3_7_reports_its_load_and_no_kv_capacity():
    load = parse_metrics(TGI_REAL, TGI)
    assert (load.waiting, load.running, load.completed) == (11, 1, 12)
    assert load.kv_capacity_tokens is None and load.kv_capacity_source is None
    assert TGI.kv_tokens_unreported  # which the capacity loop turns into a condition (controller.capacity)


def test_no_kv_capacity_before_the_engine_sized_its_cache():
    unsized = VLLM_TEXT.replace('num_gpu_blocks="8192"', 'num_gpu_blocks="None"')
    assert parse_metrics(unsized, VLLM).kv_capacity_tokens is None
    without = "\n".join(line for line in TGI_TEXT.splitlines() if "max_total_tokens" not in line) + "\n"
    assert parse_metrics(without, TGI).kv_capacity_tokens is None
