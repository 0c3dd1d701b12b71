"""Each engine's rules: how a model splits over TP, which quantizations it serves, on which GPUs."""

from __future__ import annotations

import pytest

from modelfleet.catalog import gpu_info, load_model_config, parse_config
from modelfleet.sizing import gpu_problems, quantization_problems, tensor_parallel_problems

MIXTRAL = load_model_config("mistralai/Mixtral-8x22B-v0.1")  # 48 heads, 8 KV heads, intermediate 16384


def config(**changes):
    base = {
        "model_type": "llama", "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 2,
        "num_attention_heads": 12, "num_key_value_heads": 4, "vocab_size": 1000, "max_position_embeddings": 2048,
    }
    return parse_config("acme/m", {**base, **changes}, "hub")


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_mixtral_8x22b_splits_over_every_tp_up_to_8(engine, tp):
    assert tensor_parallel_problems(engine, MIXTRAL, tp, "none") == []


def test_attention_heads_must_divide():
    assert tensor_parallel_problems("vllm", config(), 8, "none") == ["vLLM: 12 attention heads do not split over TP 8"]


def test_vllm_replicates_kv_heads_when_tp_is_a_multiple_of_them():
    model = config(num_attention_heads=16, hidden_size=1024, num_key_value_heads=2)
    assert tensor_parallel_problems("vllm", model, 8, "none") == []
    assert tensor_parallel_problems("tgi", model, 8, "none") == ["TGI: 2 KV heads do not split over TP 8"]


def test_kv_heads_that_neither_divide_nor_replicate():
    model = config(num_attention_heads=24, hidden_size=1536, num_key_value_heads=6)
    assert tensor_parallel_problems("vllm", model, 4, "none") == [
        "vLLM: 6 KV heads do not split over TP 4, and TP 4 is not a multiple of them to replicate"
    ]


def test_intermediate_size_must_divide():
    assert tensor_parallel_problems("tgi", config(intermediate_size=3000), 16, "none")[-1] == (
        "TGI: intermediate size 3000 does not split over TP 16"
    )


def test_awq_slices_must_hold_whole_groups():
    model = config(intermediate_size=3072, quantization_config={"quant_method": "awq", "group_size": 128})
    assert tensor_parallel_problems("vllm", model, 2, "awq") == []
    assert tensor_parallel_problems("vllm", model, 4, "awq") == [
        "vLLM: o_proj's 192 input features per GPU at TP 4 are not whole awq groups of 128",
    ]


@pytest.mark.parametrize("quantization", ["awq", "gptq"])
def test_awq_and_gptq_need_a_pre_quantized_repository(quantization):
    [problem] = quantization_problems("vllm", MIXTRAL, quantization)
    assert f"{quantization} needs a repository of {quantization.upper()} weights" in problem
    assert "mistralai/Mixtral-8x22B-v0.1 holds 16-bit weights" in problem


def test_vllm_serves_no_bitsandbytes_at_the_pinned_version_tgi_does():
    """vLLM dropped bitsandbytes (model_executor/layers/quantization/__init__.py QuantizationMethods)."""
    prequantized = config(quantization_config={"quant_method": "bitsandbytes", "load_in_8bit": True})
    for model, quantization in ((MIXTRAL, "bitsandbytes-8bit"), (MIXTRAL, "bitsandbytes-4bit"),
                                (prequantized, "bitsandbytes-8bit")):
        problems = quantization_problems("vllm", model, quantization)
        assert len(problems) == 1 and "not a vLLM quantization method" in problems[0] and "engine tgi" in problems[0]
        assert quantization_problems("tgi", model, quantization) == []


@pytest.mark.parametrize("engine", ["vllm", "tgi"])
@pytest.mark.parametrize("quantization", ["none", "fp8"])
def test_both_engines_quantize_to_fp8_at_load(engine, quantization):
    assert quantization_problems(engine, MIXTRAL, quantization) == []


def test_a_pre_quantized_repository_must_be_declared():
    model = config(quantization_config={"quant_method": "gptq", "group_size": 128})
    assert quantization_problems("tgi", model, "none") == [
        "acme/m holds gptq weights (config.json quantization_config): set spec.model.quantization to gptq"
    ]
    assert quantization_problems("tgi", model, "gptq") == []


def test_unknown_checkpoint_formats_are_refused():
    model = config(quantization_config={"quant_method": "exl2"})
    assert quantization_problems("tgi", model, "none") == [
        "acme/m holds exl2 weights (config.json quantization_config), which modelfleet cannot size"
    ]


def test_fp8_weights_need_ampere_or_newer():
    assert gpu_problems("fp8", gpu_info("Tesla-T4")) == [
        "fp8 weights need compute capability 8.0 or newer; Tesla-T4 is 7.5"
    ]
    assert gpu_problems("fp8", gpu_info("NVIDIA-A100-SXM4-80GB")) == []
    assert gpu_problems("awq", gpu_info("Tesla-T4")) == []
