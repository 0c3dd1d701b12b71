"""The closed loop on KV capacity against a real vLLM CPU server.

One server on the tiny generated Mixtral, its KV space set with
``VLLM_CPU_KVCACHE_SPACE`` (1 GiB, the smallest whole GiB it takes). The
operator's scraper reads the capacity vLLM reports; modelfleet's memory model
predicts it from the model's config.json and the KV space; and a spec that
asks for more sequences than that space holds gets the KVCacheTooSmall
verdict, while one that asks for what it holds does not.
"""
from __future__ import annotations

import asyncio

import pytest

from modelfleet.api import GPUPool, LLMDeploymentSpec
from modelfleet.autoscale.scrape import ScrapeTarget, scrape_fleet
from modelfleet.sizing import judge_capacity, plan_deployment
from support import kv_capacity, vllm_server

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

SHAPE = kv_capacity.ServerShape(kv_space_gib=1, max_model_len=512, max_num_batched_tokens=512)
CPU_POOL = GPUPool(name="cpu", gpu_product="NVIDIA-L4", gpus_per_node=1, price_per_gpu_hour=1.0)


@pytest.fixture(scope="module")
def server(vllm_python, tiny_model_dir, tmp_path_factory):
    with vllm_server.vllm_servers(vllm_python, tiny_model_dir, tmp_path_factory.mktemp("kv-logs"), count=1,
                                  args=SHAPE.args(), env=SHAPE.env()) as (only,):
        yield only


@pytest.fixture(scope="module")
def measured(server) -> int:
    (observation,) = asyncio.run(scrape_fleet("vllm", [ScrapeTarget("vllm-0", server.base_url)]))
    assert not observation.missing, observation.error
    return observation.load.kv_capacity_tokens


def test_the_operator_reads_the_kv_capacity_vllm_reports(server, measured):
    reported = kv_capacity.report(kv_capacity.scrape_text(server.base_url))
    assert measured == reported.num_gpu_blocks * reported.block_size > 0


def test_the_prediction_for_this_server_is_within_ten_percent(tiny_model_dir, measured):
    predicted = kv_capacity.predict(kv_capacity.model_config(tiny_model_dir), SHAPE)
    assert abs(predicted.tokens - measured) <= 0.10 * measured, (predicted, measured)


def plan_for_this_server(tiny_model_dir, concurrency: int):
    """The plan as the operator would hold it for this server: its context, its predicted KV capacity."""
    model = kv_capacity.model_config(tiny_model_dir)
    spec = LLMDeploymentSpec.model_validate({
        "model": {"id": model.model_id}, "serving": {"maxModelLen": SHAPE.max_model_len, "maxConcurrency": concurrency},
    })
    plan = plan_deployment(spec.model_copy(update={"serving": spec.serving.model_copy(update={"max_concurrency": 1})}),
                           model, [CPU_POOL]).require_chosen()
    predicted = kv_capacity.predict(model, SHAPE)
    return spec, plan.model_copy(update={"kv_capacity_tokens": predicted.tokens,
                                         "kv_tokens_per_sequence": predicted.tokens_per_sequence})


def test_a_kv_space_too_small_for_the_spec_raises_the_condition(tiny_model_dir, measured):
    holds = measured // SHAPE.max_model_len  # 2048 sequences of 512 tokens in 1 GiB
    spec, plan = plan_for_this_server(tiny_model_dir, concurrency=2 * holds)
    verdict = judge_capacity(spec, plan, measured, "vllm-0")
    assert not verdict.sufficient and verdict.reason == "KVCacheTooSmall"
    assert verdict.capacity.measured_tokens == measured and verdict.capacity.measured_sequences == holds
    assert f"{holds} (50%) short of serving.maxConcurrency {2 * holds}" in verdict.message
    assert 0.9 <= verdict.capacity.ratio <= 1.1


def test_a_kv_space_that_holds_the_spec_does_not(tiny_model_dir, measured):
    spec, plan = plan_for_this_server(tiny_model_dir, concurrency=measured // SHAPE.max_model_len)
    verdict = judge_capacity(spec, plan, measured, "vllm-0")
    assert verdict.sufficient, verdict.message
