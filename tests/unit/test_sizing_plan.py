"""Choosing the plan: smallest TP that fits per pool, cheapest pool, and errors that show the numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelfleet.api import GPUPool, LLMDeploymentSpec, parse_llmdeployment
from modelfleet.catalog import default_pools, load_model_config
from modelfleet.sizing import (
    Candidate,
    ContextTooLong,
    InvalidTensorParallel,
    NoPlanFits,
    NoPools,
    UnknownPool,
    UnservableQuantization,
    plan_deployment,
    tensor_parallel_problems,
)

ROOT = Path(__file__).resolve().parents[2]
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)
A100 = GPUPool(name="a100-80gb", gpu_product="NVIDIA-A100-SXM4-80GB", gpus_per_node=8)
L4 = GPUPool(name="l4", gpu_product="NVIDIA-L4", gpus_per_node=1)
T4 = GPUPool(name="t4", gpu_product="Tesla-T4", gpus_per_node=4)


def spec(model_id=MISTRAL, engine="vllm", max_model_len=8192, max_concurrency=16, **model_and_gpu):
    model = {"id": model_id} | {k: v for k, v in model_and_gpu.items() if k in ("quantization", "kvCacheDtype")}
    gpu = {k: v for k, v in model_and_gpu.items() if k in ("pools", "tensorParallelSize", "memoryUtilization")}
    serving = {"maxConcurrency": max_concurrency} | ({"maxModelLen": max_model_len} if max_model_len else {})
    return LLMDeploymentSpec.model_validate(
        {"model": model, "engine": {"kind": engine}, "serving": serving, "gpu": gpu}
    )


def plan(s, pools=(H100,), prices=None):
    return plan_deployment(s, load_model_config(s.model.id), list(pools), prices)


def test_mistral_7b_in_bf16_fits_one_80gb_gpu():
    chosen = plan(spec(MISTRAL, max_model_len=32768, max_concurrency=8)).require_chosen()
    assert (chosen.tensor_parallel_size, chosen.gpus_per_replica) == (1, 1)
    assert chosen.weights_gi_b_per_gpu == pytest.approx(13.5, abs=0.05)
    assert chosen.kv_cache_gi_b_per_gpu == 32.0


def test_mixtral_8x7b_in_bf16_is_tp_2_on_80gb_gpus():
    result = plan(spec(MIXTRAL, max_model_len=32768, max_concurrency=8), pools=(H100, A100))
    chosen = result.require_chosen()
    assert chosen.tensor_parallel_size == 2
    assert chosen.mixture_of_experts and chosen.expert_parallel
    assert chosen.parameters == 46_702_792_704
    assert [(c.pool, c.tensor_parallel_size, c.fits) for c in result.candidates] == [
        ("h100", 1, False), ("h100", 2, True), ("a100-80gb", 1, False), ("a100-80gb", 2, True),
    ]


def test_the_mixtral_example_is_tp_2_and_32_sequences_would_need_tp_4():
    """examples/mixtral-8x7b-vllm.yaml: 10 × 32768 tokens fit TP 2; 32 (128 GiB of KV) would not."""
    resource = parse_llmdeployment(yaml.safe_load((ROOT / "examples" / "mixtral-8x7b-vllm.yaml").read_text()))
    assert plan(resource.spec, pools=(H100, A100)).require_chosen().tensor_parallel_size == 2
    busier = plan(spec(MIXTRAL, max_model_len=32768, max_concurrency=32), pools=(H100, A100))
    assert busier.require_chosen().tensor_parallel_size == 4
    tp2 = next(c for c in busier.candidates if c.pool == "h100" and c.tensor_parallel_size == 2)
    assert (tp2.fits, tp2.max_concurrent_sequences) == (False, 11)
    assert "room for 11 of the 32 sequences" in tp2.reason


def test_the_candidates_show_the_arithmetic():
    result = plan(spec(MIXTRAL, max_model_len=32768, max_concurrency=32))
    tp1 = result.candidates[0]
    assert tp1.reason == (
        "needs 218.6 GiB per GPU at TP 1 on NVIDIA-H100-80GB-HBM3 (71.3 GiB budget): "
        "weights 87.0 + KV 128.0 + overhead 3.6 (a safety margin of 1.22 of it)"
    )
    # the budget is 0.9 of the 79.19 GiB CUDA reports on an H100 80GB HBM3, not of nvidia-smi's 79.65
    assert (tp1.weights_gib_per_gpu, tp1.kv_cache_gib_per_gpu, tp1.budget_gib_per_gpu) == (86.99, 128.0, 71.27)
    assert tp1.cuda_total_gib_per_gpu == 79.19


def test_the_cheapest_fitting_pool_wins_then_the_spec_order():
    s = spec(MISTRAL, pools=["h100", "a100-80gb"])
    assert plan(s, pools=(H100, A100)).require_chosen().pool == "a100-80gb"  # $3.43 < $6.88 per GPU-hour
    same_price = {"NVIDIA-H100-80GB-HBM3": 2.0, "NVIDIA-A100-SXM4-80GB": 2.0}
    assert plan(s, pools=(A100, H100), prices=same_price).require_chosen().pool == "h100"


def test_prices_pool_over_settings_over_catalog():
    cheap_h100 = H100.model_copy(update={"price_per_gpu_hour": 1.0})
    assert plan(spec(), pools=(A100, cheap_h100)).require_chosen().pool == "h100"
    result = plan(spec(), pools=(A100, H100), prices={"NVIDIA-A100-SXM4-80GB": 50.0})
    assert result.require_chosen().pool == "h100"
    assert result.require_chosen().price_per_hour == 6.88


def test_a_smaller_gpu_that_needs_more_of_them_can_still_be_cheaper():
    l4_x8 = L4.model_copy(update={"name": "l4x8", "gpus_per_node": 8})
    chosen = plan(spec(max_model_len=8192, max_concurrency=16), pools=(H100, l4_x8)).require_chosen()
    assert (chosen.pool, chosen.tensor_parallel_size) == ("l4x8", 2)
    assert chosen.price_per_hour == pytest.approx(2 * 1.669)


def test_spec_pools_restrict_and_order():
    result = plan(spec(pools=["a100-80gb"]), pools=(H100, A100))
    assert {c.pool for c in result.candidates} == {"a100-80gb"}


def test_an_unknown_pool_name_lists_the_pools():
    with pytest.raises(UnknownPool,
                       match="spec.gpu.pools names h200, which is not a GPU pool; available pools: a100-80gb, h100"):
        plan(spec(pools=["h200"]), pools=(H100, A100))


def test_no_pools_at_all():
    with pytest.raises(NoPools, match="no GPU pools to size for"):
        plan(spec(), pools=())


def test_tp_never_exceeds_the_gpus_of_one_node():
    result = plan(spec(MIXTRAL, max_model_len=32768, max_concurrency=8), pools=(L4,))
    assert [c.tensor_parallel_size for c in result.candidates] == [1]
    assert result.chosen is None
    with pytest.raises(NoPlanFits) as error:
        result.require_chosen()
    assert str(error.value) == (
        f"no GPU pool can serve {MIXTRAL} (16-bit weights 87.0 GiB, 8 sequences of 32768 tokens): l4: needs 122.5 "
        "GiB per GPU at TP 1 on NVIDIA-L4 (19.6 GiB budget): weights 87.0 + KV 32.0 + overhead 3.5 (a safety margin "
        "of 1.22 of it)"
    )
    assert error.value.reason == "NoPlanFits"


def test_fits_nowhere_shows_every_pools_closest_candidate():
    result = plan(spec("mistralai/Mixtral-8x22B-Instruct-v0.1", max_model_len=65536, max_concurrency=64),
                  pools=(H100, L4))
    message = result.failure_message()
    assert "h100: needs" in message and "at TP 8 on NVIDIA-H100-80GB-HBM3" in message
    assert "l4: needs" in message and "at TP 1 on NVIDIA-L4" in message


def test_max_model_len_defaults_to_the_models_context():
    result = plan(spec(max_model_len=None, max_concurrency=4))
    assert result.require_chosen().max_model_len == 32768


def test_max_model_len_above_the_models_context_is_refused():
    with pytest.raises(ContextTooLong, match="serving.maxModelLen 65536 is longer than .*context of 32768 tokens"):
        plan(spec(max_model_len=65536))


def test_explicit_tp_is_checked_against_memory():
    result = plan(spec(MIXTRAL, max_model_len=32768, max_concurrency=8, tensorParallelSize=1))
    assert result.chosen is None
    assert [c.tensor_parallel_size for c in result.candidates] == [1]
    assert result.candidates[0].reason.startswith("needs 122.5 GiB per GPU at TP 1")


def test_explicit_tp_larger_than_needed_is_kept():
    assert plan(spec(tensorParallelSize=4)).require_chosen().tensor_parallel_size == 4


def test_explicit_tp_larger_than_a_node_is_rejected_in_the_candidates():
    result = plan(spec(tensorParallelSize=2), pools=(L4,))
    assert result.candidates[0].reason == "TP 2 needs 2 GPUs on one node; l4 nodes have 1"


def test_explicit_tp_that_breaks_a_rule_is_refused():
    with pytest.raises(InvalidTensorParallel,
                       match="tensorParallelSize 16 cannot shard .*8 KV heads do not split over TP 16"):
        plan(spec(engine="tgi", tensorParallelSize=16), pools=(H100.model_copy(update={"gpus_per_node": 16}),))


def test_a_quantization_the_engine_cannot_serve():
    with pytest.raises(UnservableQuantization,
                       match="vLLM cannot serve .* bitsandbytes-8bit: bitsandbytes is not a vLLM quantization method"):
        plan(spec(quantization="bitsandbytes-8bit"))
    with pytest.raises(UnservableQuantization, match="awq needs a repository of AWQ weights"):
        plan(spec(engine="tgi", quantization="awq"))


def test_fp8_weights_skip_gpus_without_fp8_kernels():
    result = plan(spec(quantization="fp8", max_concurrency=8), pools=(T4, L4))
    assert result.candidates[0].reason == "fp8 weights need compute capability 8.0 or newer; Tesla-T4 is 7.5"
    assert result.require_chosen().pool == "l4"


def test_quantizing_shrinks_the_plan():
    s = {"model_id": "mistralai/Mixtral-8x22B-Instruct-v0.1", "max_model_len": 65536, "max_concurrency": 8}
    assert plan(spec(**s)).require_chosen().tensor_parallel_size == 8
    assert plan(spec(**s, quantization="fp8", kvCacheDtype="fp8")).require_chosen().tensor_parallel_size == 4


def test_a_gpu_the_catalog_does_not_know():
    mystery = GPUPool(name="x", gpu_product="NVIDIA-X1", gpus_per_node=8)
    assert "not in the catalog and the pool gives no memory" in plan(spec(), pools=(mystery,)).candidates[0].reason
    priced = mystery.model_copy(update={"gpu_memory_mi_b": 98304, "price_per_gpu_hour": 3.0})
    chosen = plan(spec(), pools=(priced,)).require_chosen()
    assert (chosen.gpu_memory_gi_b, chosen.price_per_hour) == (96.0, 3.0)
    unpriced = mystery.model_copy(update={"gpu_memory_mi_b": 98304})
    assert plan(spec(), pools=(unpriced,)).candidates[0].reason.startswith("no price for NVIDIA-X1")


def test_pool_memory_from_the_cluster_wins_over_the_catalog():
    """A label other than the catalog's is a GPU no log names: CUDA's total is taken 0.71 GiB under it."""
    small = H100.model_copy(update={"gpu_memory_mi_b": 40960})
    chosen = plan(spec(), pools=(small,)).require_chosen()
    assert (chosen.gpu_memory_gi_b, chosen.budget_gi_b_per_gpu) == (40.0, round(0.9 * (40 - 0.71), 2))


def test_the_plan_carries_the_pool_selector():
    selected = A100.model_copy(update={"node_selector": {"eks.amazonaws.com/nodegroup": "p4de"}})
    assert plan(spec(), pools=(selected,)).require_chosen().node_selector == {"eks.amazonaws.com/nodegroup": "p4de"}
    assert plan(spec(), pools=(A100,)).require_chosen().node_selector == {"modelfleet.io/pool": "a100-80gb"}


def test_tgi_has_no_expert_parallel():
    chosen = plan(spec(MIXTRAL, engine="tgi", max_model_len=8192, max_concurrency=8)).require_chosen()
    assert chosen.tensor_parallel_size == 2 and not chosen.expert_parallel
    assert chosen.engine == "tgi"


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_plans_on_the_catalog_pools(example):
    resource = parse_llmdeployment(yaml.safe_load(example.read_text()))
    result = plan(resource.spec, pools=default_pools())
    chosen = result.require_chosen()
    model = load_model_config(resource.spec.model.id)
    assert tensor_parallel_problems(resource.spec.engine.kind, model, chosen.tensor_parallel_size,
                                    resource.spec.model.quantization) == []


def test_the_result_on_the_wire():
    wire = plan(spec()).to_wire()
    assert set(wire) == {"model", "chosen", "candidates"}
    assert wire["chosen"]["tensorParallelSize"] == 1
    assert set(wire["candidates"][0]) >= {
        "pool", "gpuProduct", "tensorParallelSize", "gpusPerReplica", "fits", "reason", "weightsPerGPU",
        "kvCachePerGPU", "maxConcurrentSequences", "pricePerHour",
    }


def test_a_candidate_turned_away_before_measuring_has_no_memory_on_the_wire():
    """'modelfleet plan -o json' lists it too (mypy --strict found gib_quantity(None) here)."""
    wire = Candidate(pool="l4", gpu_product="NVIDIA-L4", tensor_parallel_size=2, fits=False, reason="1 GPU").to_wire()
    assert [wire[k] for k in ("weightsPerGPU", "kvCachePerGPU", "overheadPerGPU", "budgetPerGPU")] == [None] * 4
