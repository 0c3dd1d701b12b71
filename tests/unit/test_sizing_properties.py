"""Invariants of the sizing engine over random models, workloads and GPUs (hypothesis)."""

from __future__ import annotations

from hypothesis import assume, given, settings, strategies as st

from modelfleet.api import GPUPool, LLMDeploymentSpec
from modelfleet.api.quantity import GIB
from modelfleet.catalog import ModelConfig, parse_config
from modelfleet.sizing import (
    Workload,
    engine_memory,
    memory_need,
    model_tensors,
    plan_deployment,
    tensor_parallel_problems,
)

QUANTIZATIONS = ("none", "fp8", "bitsandbytes-4bit")


@st.composite
def models(draw) -> ModelConfig:
    heads = draw(st.sampled_from([4, 8, 12, 16, 32, 48, 64]))
    kv_heads = draw(st.sampled_from([h for h in (1, 2, 4, 8, 16, 32) if heads % h == 0]))
    head_dim = draw(st.sampled_from([64, 128]))
    hidden = heads * head_dim
    experts = draw(st.sampled_from([0, 0, 4, 8]))
    data = {
        "model_type": "mixtral" if experts else draw(st.sampled_from(["llama", "mistral"])),
        "hidden_size": hidden,
        "intermediate_size": draw(st.sampled_from([2, 3, 4])) * hidden + draw(st.sampled_from([0, 128, 96])),
        "num_hidden_layers": draw(st.integers(1, 80)),
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": draw(st.integers(1000, 160_000)),
        "max_position_embeddings": draw(st.sampled_from([4096, 32768, 131072])),
        "tie_word_embeddings": draw(st.booleans()),
        "sliding_window": draw(st.sampled_from([None, None, 1024, 4096])),
    }
    if experts:
        data |= {"num_local_experts": experts, "num_experts_per_tok": draw(st.integers(1, 2))}
    return parse_config("acme/random", data, "hub")


def spec_for(model: ModelConfig, engine: str, quantization: str, kv_dtype: str, length: int, concurrency: int,
             utilization: float) -> LLMDeploymentSpec:
    return LLMDeploymentSpec.model_validate({
        "model": {"id": model.model_id, "quantization": quantization, "kvCacheDtype": kv_dtype},
        "engine": {"kind": engine},
        "serving": {"maxModelLen": length, "maxConcurrency": concurrency},
        "gpu": {"memoryUtilization": utilization},
    })


@st.composite
def cases(draw):
    model = draw(models())
    length = draw(st.integers(16, model.max_position_embeddings))
    engine = draw(st.sampled_from(["vllm", "tgi"]))
    spec = spec_for(
        model,
        engine=engine,
        quantization=draw(st.sampled_from([q for q in QUANTIZATIONS if q not in engine_memory(engine).unservable])),
        kv_dtype=draw(st.sampled_from(["auto", "fp8"])),
        length=length,
        concurrency=draw(st.integers(1, 256)),
        utilization=draw(st.floats(0.5, 0.98)),
    )
    pool = GPUPool(
        name="pool",
        gpu_product="NVIDIA-H100-80GB-HBM3",
        gpus_per_node=draw(st.sampled_from([1, 2, 4, 8, 16])),
        gpu_memory_mi_b=draw(st.integers(8 * 1024, 200 * 1024)),
    )
    return model, spec, pool


def chosen_tp(spec: LLMDeploymentSpec, model: ModelConfig, pool: GPUPool) -> int | None:
    plan = plan_deployment(spec, model, [pool]).chosen
    return plan.tensor_parallel_size if plan else None


def with_serving(spec: LLMDeploymentSpec, **serving) -> LLMDeploymentSpec:
    return spec.model_copy(update={"serving": spec.serving.model_copy(update=serving)})


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(1, 200 * 1024))
def test_more_memory_never_needs_a_larger_tp(case, extra_mib):
    model, spec, pool = case
    smaller = chosen_tp(spec, model, pool)
    larger = chosen_tp(spec, model, pool.model_copy(update={"gpu_memory_mi_b": pool.gpu_memory_mi_b + extra_mib}))
    if smaller is not None:
        assert larger is not None and larger <= smaller


@settings(max_examples=200, deadline=None)
@given(cases(), st.data())
def test_a_longer_context_never_needs_a_smaller_tp(case, data):
    model, spec, pool = case
    longer = data.draw(st.integers(spec.serving.max_model_len, model.max_position_embeddings))
    at_longer = chosen_tp(with_serving(spec, max_model_len=longer), model, pool)
    if at_longer is not None:
        at_shorter = chosen_tp(spec, model, pool)
        assert at_shorter is not None and at_shorter <= at_longer


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(0, 512))
def test_higher_concurrency_never_needs_a_smaller_tp(case, more):
    model, spec, pool = case
    at_higher = chosen_tp(with_serving(spec, max_concurrency=spec.serving.max_concurrency + more), model, pool)
    if at_higher is not None:
        at_lower = chosen_tp(spec, model, pool)
        assert at_lower is not None and at_lower <= at_higher


@settings(max_examples=300, deadline=None)
@given(cases())
def test_every_chosen_plan_passes_the_engines_rules(case):
    model, spec, pool = case
    plan = plan_deployment(spec, model, [pool]).chosen
    assume(plan is not None)
    assert tensor_parallel_problems(spec.engine.kind, model, plan.tensor_parallel_size, spec.model.quantization) == []
    assert plan.tensor_parallel_size <= pool.gpus_per_node
    assert plan.weights_gi_b_per_gpu + plan.kv_cache_gi_b_per_gpu + plan.overhead_gi_b_per_gpu <= (
        plan.budget_gi_b_per_gpu + 0.03  # each shown number is rounded to 0.01 GiB
    )


@settings(max_examples=300, deadline=None)
@given(models(), st.sampled_from(QUANTIZATIONS[1:] + ("bitsandbytes-8bit",)), st.sampled_from([1, 2, 4, 8, 16]),
       st.sampled_from(["vllm", "tgi"]), st.integers(16, 4096), st.integers(1, 64))
def test_quantizing_never_needs_more_memory(model, quantization, tp, engine, length, concurrency):
    tensors = model_tensors(model)

    def need(quantization: str, kv_dtype: str):
        workload = Workload(engine, quantization, kv_dtype, min(length, model.max_position_embeddings), concurrency)
        return memory_need(tensors, model, workload, tp, 80 * GIB, 0.9)

    sixteen_bit = need("none", "auto")
    assert need(quantization, "auto").weights < sixteen_bit.weights
    assert need(quantization, "auto").total < sixteen_bit.total
    assert need("none", "fp8").total < sixteen_bit.total
