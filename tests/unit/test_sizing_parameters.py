"""Parameter counts from a config: the published totals, and every part the formula adds up."""

from __future__ import annotations

import pytest

from modelfleet.catalog import load_model_config, parse_config
from modelfleet.sizing import UnsupportedArchitecture, count_parameters, model_tensors


@pytest.mark.parametrize(
    "model_id, total_billions, active_billions",
    [
        # Mistral AI's published sizes.
        ("mistralai/Mistral-7B-v0.1", 7.24, 7.24),
        ("mistralai/Mistral-7B-Instruct-v0.3", 7.25, 7.25),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 46.7, 12.9),
        ("mistralai/Mixtral-8x22B-v0.1", 140.6, 39.2),
    ],
)
def test_published_totals(model_id, total_billions, active_billions):
    counts = count_parameters(load_model_config(model_id))
    assert round(counts.total / 1e9, len(str(total_billions).split(".")[1])) == total_billions
    assert round(counts.active / 1e9, len(str(active_billions).split(".")[1])) == active_billions


def test_mistral_7b_exactly():
    # embeddings + lm_head + 32 × (q, k, v, o + gate, up, down + 2 norms) + final norm
    hidden, inter, vocab, kv = 4096, 14336, 32000, 1024
    layer = hidden * hidden * 2 + hidden * kv * 2 + 3 * hidden * inter + 2 * hidden
    total = count_parameters(load_model_config("mistralai/Mistral-7B-v0.1")).total
    assert total == 2 * vocab * hidden + 32 * layer + hidden


def test_mixtral_experts_and_router():
    model = load_model_config("mistralai/Mixtral-8x7B-v0.1")
    groups = {t.name: t for t in model_tensors(model)}
    assert groups["router"].parameters == 32 * 8 * 4096
    assert groups["experts.w1"].count == 32 * 8
    expert = 3 * 4096 * 14336
    counts = count_parameters(model)
    assert counts.total - counts.active == 32 * (8 - 2) * expert


TINY_LLAMA = {
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 256,
}


def test_tied_embeddings_count_once():
    untied = count_parameters(parse_config("t", TINY_LLAMA, "hub")).total
    tied = count_parameters(parse_config("t", {**TINY_LLAMA, "tie_word_embeddings": True}, "hub")).total
    assert untied - tied == 100 * 64


def test_llama_biases():
    plain = count_parameters(parse_config("t", TINY_LLAMA, "hub")).total
    biased = count_parameters(parse_config("t", {**TINY_LLAMA, "attention_bias": True, "mlp_bias": True}, "hub")).total
    q, kv, hidden, inter = 4 * 16, 2 * 16, 64, 128
    assert biased - plain == 2 * (q + 2 * kv + hidden) + 2 * (2 * inter + hidden)


def test_explicit_head_dim_shapes_attention():
    model = parse_config("t", {**TINY_LLAMA, "head_dim": 32}, "hub")
    groups = {t.name: t for t in model_tensors(model)}
    assert (groups["q_proj"].rows, groups["k_proj"].rows, groups["o_proj"].cols) == (128, 64, 128)


def test_other_architectures_are_refused_by_name():
    model = parse_config("Qwen/Qwen2-7B", {**TINY_LLAMA, "model_type": "qwen2"}, "hub")
    with pytest.raises(UnsupportedArchitecture,
                       match="Qwen/Qwen2-7B is a qwen2 model; modelfleet sizes llama, mistral, mixtral"):
        count_parameters(model)
