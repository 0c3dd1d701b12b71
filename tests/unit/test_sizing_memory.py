"""Bytes of weights by quantization, KV cache per token, and the per-GPU memory at a TP."""

from __future__ import annotations

import pytest

from modelfleet.api.quantity import GIB
from modelfleet.catalog import load_model_config, parse_config
from modelfleet.engines.memory_rules import CUDA_CONTEXT_GIB
from modelfleet.sizing import TensorGroup, Workload, kv_bytes_per_token, memory_need, model_tensors, tensor_bytes
from modelfleet.sizing.memory import prefill_tokens, weight_bytes

PROJECTION = TensorGroup("proj", "linear", rows=4096, cols=14336, count=1, split="tp")
WEIGHTS = 4096 * 14336


@pytest.mark.parametrize(
    "quantization, expected",
    [
        ("none", 2 * WEIGHTS),
        ("fp8", WEIGHTS + 4 * 4096),  # + a float32 scale per output channel
        ("bitsandbytes-8bit", WEIGHTS + 4 * 4096),  # + a float32 scale per row
        # 4 bits per weight + per 128-input group and output channel: fp16 scale, 4-bit zero
        ("awq", WEIGHTS // 2 + 112 * 4096 * 2 + 112 * 4096 // 2),
        ("gptq", WEIGHTS // 2 + 112 * 4096 * 2 + 112 * 4096 // 2 + 4 * 14336),  # + int32 g_idx
        ("bitsandbytes-4bit", WEIGHTS // 2 + 4 * WEIGHTS // 64),  # + float32 absmax per 64 weights
    ],
)
def test_projection_bytes(quantization, expected):
    assert tensor_bytes(PROJECTION, quantization) == expected


def test_group_size_from_the_repo():
    assert tensor_bytes(PROJECTION, "awq", group_size=64) > tensor_bytes(PROJECTION, "awq", group_size=128)
    # -1: one group over all input features (per-channel scales)
    assert tensor_bytes(PROJECTION, "gptq", group_size=-1) == WEIGHTS // 2 + 4096 * 2 + 4096 // 2 + 4 * 14336


@pytest.mark.parametrize("kind", ["embedding", "norm", "router", "bias"])
def test_embeddings_norms_router_and_biases_stay_16_bit(kind):
    tensor = TensorGroup("t", kind, rows=32000, cols=4096, count=1, split="tp")
    assert {tensor_bytes(tensor, q) for q in ("none", "fp8", "awq", "bitsandbytes-4bit")} == {2 * 32000 * 4096}


def test_quantizing_mixtral_keeps_embeddings_and_router_at_16_bit():
    model = load_model_config("mistralai/Mixtral-8x7B-v0.1")
    tensors = model_tensors(model)
    sixteen_bit = 2 * sum(t.parameters for t in tensors if t.kind != "linear")
    assert weight_bytes(tensors, model, "fp8") - sixteen_bit == sum(
        t.parameters + 4 * t.rows * t.count for t in tensors if t.kind == "linear"
    )


def test_kv_cache_per_token():
    mistral = load_model_config("mistralai/Mistral-7B-v0.1")
    assert kv_bytes_per_token(mistral, "auto") == 2 * 32 * 8 * 128 * 2 == 128 * 1024
    assert kv_bytes_per_token(mistral, "fp8") == 64 * 1024
    assert kv_bytes_per_token(mistral, "auto", tp=4) == 32 * 1024


def test_kv_heads_are_replicated_when_tp_exceeds_them():
    model = parse_config("t", {
        "model_type": "llama", "hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 64,
    }, "hub")
    assert kv_bytes_per_token(model, "auto", tp=2) == kv_bytes_per_token(model, "auto", tp=8)
    tensors = model_tensors(model)
    part = {split: 2 * sum(t.parameters for t in tensors if t.split == split) for split in ("tp", "kv", "replicated")}
    at_tp8 = memory_need(tensors, model, WORKLOAD, 8, GIB, 0.9).weights
    assert at_tp8 == pytest.approx(part["tp"] / 8 + part["kv"] / 2 + part["replicated"])


WORKLOAD = Workload(engine="vllm", quantization="none", kv_cache_dtype="auto", max_model_len=32768, max_concurrency=8)


def test_memory_need_of_mistral_7b_on_one_gpu():
    """vLLM: budget = total × utilization; context and NCCL outside it, CUDA graphs inside."""
    model = load_model_config("mistralai/Mistral-7B-v0.3")  # full attention
    need = memory_need(model_tensors(model), model, WORKLOAD, tp=1, gpu_memory=80 * GIB, memory_utilization=0.9)
    assert need.budget == 72 * GIB
    assert need.weights == 2 * 7_248_023_552
    assert need.kv_cache == 8 * 32768 * 128 * 1024 == 32 * GIB
    # the profile run's peak (an 8192-token forward pass) + workspaces and the sampler state of 8 sequences +
    # CUDA graphs (5 piecewise + 4 full at 8 sequences, 32 layers) + the margin on the weights
    activations = 8192 * 2 * (4 * 4096 + 48 * 128 + 3 * 14336)
    non_torch = 0.25 * GIB + 8 * (32768 + 1024) * 4
    graphs = 0.25 * GIB + 9 * 32 * 0.14 * 2**20
    assert need.overhead == pytest.approx(activations + non_torch + graphs + 0.014 * need.weights)
    assert need.outside_budget == CUDA_CONTEXT_GIB * GIB
    assert need.max_sequences == int((72 * GIB - need.weights - need.overhead) // (4 * GIB))
    # whole blocks of 16 tokens (vllm/config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE)
    assert need.kv_capacity_tokens == int((72 * GIB - need.weights - need.overhead) // (16 * 128 * 1024)) * 16


def test_weights_split_over_tp_except_replicated_parts():
    model = load_model_config("mistralai/Mixtral-8x7B-v0.1")
    tensors = model_tensors(model)
    one, two = (memory_need(tensors, model, WORKLOAD, tp, GIB, 0.9).weights for tp in (1, 2))
    replicated = 2 * sum(t.parameters for t in tensors if t.split == "replicated")
    assert two == pytest.approx((one - replicated) / 2 + replicated)


def test_the_prefill_tokens_are_the_flags_the_renderer_passes():
    assert prefill_tokens("vllm") == 8192  # --max-num-batched-tokens
    assert prefill_tokens("tgi") == 4096  # --max-batch-prefill-tokens, TGI 3.x's fallback default
