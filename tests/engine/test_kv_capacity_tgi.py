"""The KV-capacity check against a real TGI 3.3.7, which never reports its KV cache size on /metrics.

``backends/v3/src/lib.rs`` ``connect_backend`` sets ``tgi_batch_max_total_tokens``
before ``router/src/server.rs`` ``start`` sets the Prometheus recorder, so
the gauge is lost; the figure is only in the router's log line "Setting max
batch total tokens to N". The operator's measuring step (``controller.capacity.measure``)
used to find no figure and say nothing; it must now write the condition
KVCacheSufficient Unknown, ``KVCapacityNotReported``, with the reason, and
``kvCapacity.source`` "none".
"""
from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest

from modelfleet.api import GPUPool, parse_llmdeployment
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.catalog import load_model_config
from modelfleet.controller.capacity import measure
from modelfleet.controller.decide.capacity import capacity_status, transition_event
from modelfleet.controller.observe import read_status, snapshot_of
from modelfleet.engines.tgi import METRICS
from modelfleet.sizing import KV_CAPACITY_CONDITION, plan_deployment

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)
SPEC = {"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"}, "engine": {"kind": "tgi"},
        "serving": {"maxModelLen": 4096, "maxConcurrency": 64}, "gpu": {"pools": ["h100"]}}


def llmdeployment() -> dict:
    """A TGI LLMDeployment as the capacity loop reads it: with the plan in status."""
    document = {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                "metadata": {"name": "fleet", "namespace": "llm", "uid": "u1", "generation": 2}, "spec": SPEC}
    plan = plan_deployment(parse_llmdeployment(document).spec, load_model_config(SPEC["model"]["id"]),
                           [H100]).require_chosen()
    document["status"] = {"plan": plan.to_wire()}
    return document


READY_POD = {"metadata": {"name": "fleet-tgi-0"},
             "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}}


def measure_at(url: str, document: dict):
    """The measuring step on ``document`` with one Ready pod, whose engine is the real TGI."""
    return asyncio.run(measure(snapshot_of(document, pods=(READY_POD,)),
                               lambda pod: ScrapeTarget(pod["metadata"]["name"], url)))


def test_tgi_logs_its_token_budget_but_never_exports_it(tgi):
    tgi.server.generate()  # /metrics is empty until a first request (TgiServer.generate)
    with urllib.request.urlopen(f"{tgi.server.base_url}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    assert "tgi_queue_size" in exposition  # the recorder works...
    assert "tgi_batch_max_total_tokens" not in exposition  # ...but the gauge set before it is gone
    logged = re.findall(METRICS.kv_tokens_log_line, tgi.server.log_text())
    # On the CPU (no paged KV cache) the router takes max(16000, max_total_tokens, max_batch_prefill_tokens)
    # (backends/v3/src/lib.rs check_max_batch_total_tokens, "Model does not support automatic max batch total
    # tokens"); on a GPU it is what the warm-up measured.
    assert logged and int(logged[-1]) == 16000, tgi.server.log_tail()


def test_the_operator_says_the_kv_capacity_is_not_reported(tgi):
    tgi.server.generate()  # /metrics is empty until a first request (TgiServer.generate)
    document = llmdeployment()
    measurement = measure_at(tgi.server.base_url, document)
    assert measurement is not None, "the engine reported nothing and the operator said nothing"
    verdict = measurement.verdict
    assert (verdict.condition_status, verdict.reason) == ("Unknown", "KVCapacityNotReported")
    assert verdict.capacity.source == "none" and verdict.capacity.measured_tokens is None
    assert verdict.capacity.replica == "fleet-tgi-0"
    assert "fleet-tgi-0 reports no KV cache size" in verdict.message
    assert "tgi_batch_max_total_tokens" in verdict.message and "backends/v3/src/lib.rs" in verdict.message

    previous = read_status(document["status"])
    status = capacity_status(verdict, previous, measurement.generation, "2026-12-05T00:00:00Z")
    condition = next(c for c in status.conditions if c.type == KV_CAPACITY_CONDITION)
    assert (condition.status, condition.reason) == ("Unknown", "KVCapacityNotReported")
    assert status.to_wire()["kvCapacity"]["source"] == "none"
    assert transition_event(previous, verdict)[:2] == ("Normal", "KVCapacityNotReported")
    # Said once: with that condition in status, the loop does not scrape this plan again.
    document["status"] = status.to_wire()
    assert measure_at(tgi.server.base_url, document) is None
