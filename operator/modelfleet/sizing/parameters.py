"""Every weight tensor of a Mistral, Mixtral or Llama model, and the parameter counts they add up to.

The inventory is the one source for parameter counts, for weight bytes under
each quantization (which tensors are quantized, which stay 16-bit) and for
how tensor parallelism splits them (which tensors are sharded, replicated, or
split by KV head). The shapes follow transformers' modeling code: a decoder
layer is RMSNorm, attention (q, k, v, o with grouped KV heads), RMSNorm, then a
SwiGLU MLP (gate, up, down) or, for Mixtral, a router and ``num_experts``
SwiGLU experts. Rotary embeddings have no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelfleet.catalog import ModelConfig

from .errors import UnsupportedArchitecture

SUPPORTED_ARCHITECTURES = ("llama", "mistral", "mixtral")

# linear: a projection the quantization methods quantize. embedding, norm,
# router and bias stay 16-bit under every method modelfleet serves.
Kind = Literal["embedding", "linear", "norm", "router", "bias"]
# How tensor parallelism places a tensor: tp = 1/TP on each GPU; kv = split by
# KV head, so 1/min(TP, KV heads) (vLLM replicates KV heads when TP exceeds
# them); replicated = whole on every GPU.
Split = Literal["tp", "kv", "replicated"]


@dataclass(frozen=True)
class TensorGroup:
    """``count`` tensors of ``rows`` × ``cols`` (out × in features for a projection; cols 1 for a vector)."""

    name: str
    kind: Kind
    rows: int
    cols: int
    count: int
    split: Split
    routed_expert: bool = False  # only experts_per_token of num_experts run for a token

    @property
    def parameters(self) -> int:
        return self.rows * self.cols * self.count


@dataclass(frozen=True)
class ParameterCount:
    total: int
    active: int  # used for one token: every weight but the experts the router does not pick


def model_tensors(model: ModelConfig) -> tuple[TensorGroup, ...]:
    """The model's weight tensors, grouped by shape and role."""
    if model.model_type not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedArchitecture(
            f"{model.model_id} is a {model.model_type or 'model of unknown type'!s} model; modelfleet sizes "
            f"{', '.join(SUPPORTED_ARCHITECTURES)} architectures (config.json model_type)"
        )
    return (*_embeddings(model), *_attention(model), *_feed_forward(model), *_norms(model))


def count_parameters(model: ModelConfig) -> ParameterCount:
    tensors = model_tensors(model)
    total = sum(t.parameters for t in tensors)
    experts = sum(t.parameters for t in tensors if t.routed_expert)
    idle = experts * (model.num_experts - model.experts_per_token) // model.num_experts if experts else 0
    return ParameterCount(total=total, active=total - idle)


def _embeddings(m: ModelConfig) -> list[TensorGroup]:
    groups = [TensorGroup("embed_tokens", "embedding", m.vocab_size, m.hidden_size, 1, "tp")]
    if not m.tie_word_embeddings:
        groups.append(TensorGroup("lm_head", "embedding", m.vocab_size, m.hidden_size, 1, "tp"))
    return groups


def _attention(m: ModelConfig) -> list[TensorGroup]:
    q_width = m.num_attention_heads * m.head_dim
    kv_width = m.num_kv_heads * m.head_dim
    layers = m.num_layers
    groups = [
        TensorGroup("q_proj", "linear", q_width, m.hidden_size, layers, "tp"),
        TensorGroup("k_proj", "linear", kv_width, m.hidden_size, layers, "kv"),
        TensorGroup("v_proj", "linear", kv_width, m.hidden_size, layers, "kv"),
        TensorGroup("o_proj", "linear", m.hidden_size, q_width, layers, "tp"),
    ]
    if m.attention_bias:
        groups += [
            TensorGroup("q_proj.bias", "bias", q_width, 1, layers, "tp"),
            TensorGroup("k_proj.bias", "bias", kv_width, 1, layers, "kv"),
            TensorGroup("v_proj.bias", "bias", kv_width, 1, layers, "kv"),
            # A row-parallel layer adds its bias once, after the all-reduce: every GPU holds all of it.
            TensorGroup("o_proj.bias", "bias", m.hidden_size, 1, layers, "replicated"),
        ]
    return groups


def _feed_forward(m: ModelConfig) -> list[TensorGroup]:
    if m.mixture_of_experts:
        return _experts(m)
    layers = m.num_layers
    groups = [
        TensorGroup("gate_proj", "linear", m.intermediate_size, m.hidden_size, layers, "tp"),
        TensorGroup("up_proj", "linear", m.intermediate_size, m.hidden_size, layers, "tp"),
        TensorGroup("down_proj", "linear", m.hidden_size, m.intermediate_size, layers, "tp"),
    ]
    if m.mlp_bias:
        groups += [
            TensorGroup("gate_proj.bias", "bias", m.intermediate_size, 1, layers, "tp"),
            TensorGroup("up_proj.bias", "bias", m.intermediate_size, 1, layers, "tp"),
            TensorGroup("down_proj.bias", "bias", m.hidden_size, 1, layers, "replicated"),
        ]
    return groups


def _experts(m: ModelConfig) -> list[TensorGroup]:
    experts = m.num_layers * m.num_experts
    return [
        TensorGroup("router", "router", m.num_experts, m.hidden_size, m.num_layers, "replicated"),
        TensorGroup("experts.w1", "linear", m.intermediate_size, m.hidden_size, experts, "tp", routed_expert=True),
        TensorGroup("experts.w3", "linear", m.intermediate_size, m.hidden_size, experts, "tp", routed_expert=True),
        TensorGroup("experts.w2", "linear", m.hidden_size, m.intermediate_size, experts, "tp", routed_expert=True),
    ]


def _norms(m: ModelConfig) -> list[TensorGroup]:
    return [
        TensorGroup("layer_norms", "norm", m.hidden_size, 1, 2 * m.num_layers, "replicated"),
        TensorGroup("final_norm", "norm", m.hidden_size, 1, 1, "replicated"),
    ]
