"""The capacity loop's measuring step: the first Ready pod is scraped and judged against the plan in status.

No Kubernetes here: the snapshot's engine pods are given, and the
engine is a local HTTP server serving the recorded vLLM exposition with the
KV cache blocks the test sets. Writing status and events is proven on a real
API server (tests/integration/test_kv_capacity_operator.py) and against a scripted one
(tests/unit/test_controller_writes.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiohttp import web

from modelfleet.api import GPUPool, parse_llmdeployment
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.catalog import load_model_config
from modelfleet.controller.capacity import measure
from modelfleet.controller.observe import snapshot_of
from modelfleet.sizing import plan_deployment
from support.fake_engines import FakeEngines

TGI_337 = (Path(__file__).resolve().parents[1] / "support" / "metrics" / "tgi-3.3.7.txt").read_text()

H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)
SPEC = {"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"}, "serving": {"maxModelLen": 4096, "maxConcurrency": 64},
        "gpu": {"pools": ["h100"]}}


def body(with_plan: bool = True) -> dict:
    document = {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                "metadata": {"name": "fleet", "namespace": "llm", "uid": "u1", "generation": 4}, "spec": SPEC}
    if with_plan:
        resource = parse_llmdeployment(document)
        plan = plan_deployment(resource.spec, load_model_config(SPEC["model"]["id"]), [H100]).require_chosen()
        document["status"] = {"plan": plan.to_wire()}
    return document


def pod(name: str) -> dict:
    return {"metadata": {"name": name}, "status": {"podIP": "127.0.0.1",
                                                   "conditions": [{"type": "Ready", "status": "True"}]}}


@contextlib.asynccontextmanager
async def engine(blocks: int, exposition: str | None = None):
    fake = FakeEngines()
    fake.num_gpu_blocks = blocks

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=exposition if exposition is not None else fake.exposition())

    async def ready(request: web.Request) -> web.Response:  # the warm-up sidecar's, on the same test server
        return web.json_response({"phase": "ready", "last_warmup": WARMUP_SUMMARY})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ready", ready)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def run(pods: list[dict], blocks: int, document: dict, exposition: str | None = None):
    """Measure ``document`` with ``pods`` as its engine pods, every one answering at the test's engine."""
    async def scenario():
        async with engine(blocks, exposition) as url:
            def at_engine(p: dict) -> ScrapeTarget:
                return ScrapeTarget(p["metadata"]["name"], url, warmup_url=url)
            return await measure(snapshot_of(document, pods=tuple(pods)), at_engine)
    return asyncio.run(scenario())


WARMUP_SUMMARY = {"event": "warmup", "outcome": "complete", "duration_s": 2.5, "requests": 17, "failed": 0,
                  "long_prompt_tokens": 4092, "experts": None}


def tgi_body() -> dict:
    document = body()
    document["spec"] = {**SPEC, "engine": {"kind": "tgi"}}
    return document


def test_the_first_ready_pod_is_judged_against_the_plan_in_status():
    measurement = run([pod("fleet-b"), pod("fleet-a")], blocks=1024, document=body())
    verdict = measurement.verdict
    assert measurement.generation == 4
    assert verdict.capacity.replica == "fleet-a"
    assert (verdict.capacity.measured_tokens, verdict.capacity.measured_sequences) == (1024 * 128, 32)
    assert not verdict.sufficient and "32 (50%) short of serving.maxConcurrency 64" in verdict.message


def test_nothing_to_judge_without_a_plan_or_a_ready_pod():
    assert run([pod("fleet-a")], blocks=8192, document=body(with_plan=False)) is None
    assert run([], blocks=8192, document=body()) is None


def test_a_plan_found_sufficient_is_not_measured_again_a_short_one_is():
    document = body()
    measured = {"plannedTokens": 1, "plannedSequences": 1, "measuredTokens": 1, "measuredSequences": 1, "ratio": 1.0}
    for state, again in (("True", False), ("False", True)):
        document["status"] |= {"kvCapacity": measured,
                               "conditions": [{"type": "KVCacheSufficient", "status": state, "reason": "R",
                                                               "lastTransitionTime": "2026-11-30T00:00:00Z"}]}
        assert (run([pod("fleet-a")], blocks=1024, document=document) is not None) is again


def test_a_measurement_names_its_source():
    verdict = run([pod("fleet-a")], blocks=1024, document=body()).verdict
    assert verdict.capacity.source == "GET /metrics: vllm:cache_config_info num_gpu_blocks × block_size"


def test_an_engine_that_never_reports_its_kv_cache_gets_an_unknown_condition_once():
    """TGI 3.3.7 (recorded): no tgi_batch_max_total_tokens. Said in status, and not scraped again for it."""
    document = tgi_body()
    measurement = run([pod("fleet-a")], blocks=0, document=document, exposition=TGI_337)
    verdict = measurement.verdict
    assert (verdict.condition_status, verdict.reason) == ("Unknown", "KVCapacityNotReported")
    assert verdict.capacity.source == "none" and verdict.capacity.replica == "fleet-a"
    assert "Setting max batch total tokens to N" in verdict.message
    document["status"] |= {"kvCapacity": verdict.capacity.to_wire(),
                           "conditions": [{"type": "KVCacheSufficient", "status": "Unknown",
                                           "reason": "KVCapacityNotReported",
                                           "lastTransitionTime": "2026-11-30T00:00:00Z"}]}
    assert run([pod("fleet-a")], blocks=0, document=document, exposition=TGI_337) is None


def test_an_engine_not_sized_yet_changes_nothing():
    """vLLM before it sized its cache: no figure yet, and nothing said (it will come)."""
    unsized = FakeEngines().exposition().replace('num_gpu_blocks="8192"', 'num_gpu_blocks="None"')
    assert 'num_gpu_blocks="None"' in unsized
    assert run([pod("fleet-a")], blocks=8192, document=body(), exposition=unsized) is None


def test_with_the_warm_up_sidecar_on_the_same_replica_s_warm_up_is_read_too():
    document = tgi_body()
    document["spec"]["warmup"] = {"enabled": "true"}
    measurement = run([pod("fleet-a")], blocks=0, document=document, exposition=TGI_337)
    warmup = measurement.warmup
    assert (warmup.replica, warmup.requests, warmup.failed, warmup.long_prompt_tokens) == ("fleet-a", 17, 0, 4092)
    assert warmup.experts.startswith("not measured: TGI 3.3.7 tells a client nothing")


def test_without_the_sidecar_no_warm_up_is_read():
    assert run([pod("fleet-a")], blocks=1024, document=body()).warmup is None  # a dense model: warm-up off
