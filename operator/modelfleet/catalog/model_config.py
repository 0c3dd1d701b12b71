"""A model's architecture as sizing needs it, read from the repo's ``config.json``.

Only the fields that decide memory are kept. Defaults follow transformers'
config classes (Mistral, Mixtral, Llama), so a config.json that leaves a field
out means what transformers would read from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidModelConfig

# quantization_config.quant_method of pre-quantized repos, in spec.model.quantization's words.
_QUANT_METHODS = {"awq": "awq", "gptq": "gptq", "fp8": "fp8"}


@dataclass(frozen=True)
class ModelConfig:
    model_id: str
    source: Literal["bundled", "hub"]
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    num_experts: int = 0  # 0 for a dense MLP
    experts_per_token: int = 0
    dtype: str = "bfloat16"
    # How a pre-quantized repo stores its weights (spec.model.quantization's
    # vocabulary, or the raw quant_method when it has no equivalent); None for 16-bit.
    quantization: str | None = None
    quantization_group_size: int | None = None
    # Tokens each attention layer looks back (config.json sliding_window; Mistral-7B v0.1: 4096).
    # None for full attention (Mistral v0.2+ write null).
    sliding_window: int | None = None

    @property
    def mixture_of_experts(self) -> bool:
        return self.num_experts > 1


def parse_config(model_id: str, data: dict[str, Any], source: Literal["bundled", "hub"]) -> ModelConfig:
    """The sizing view of a ``config.json``; InvalidModelConfig names a missing or wrong field."""
    if not isinstance(data, dict):
        raise InvalidModelConfig(f"{model_id}: config.json is not a JSON object")
    heads = _int(model_id, data, "num_attention_heads")
    hidden = _int(model_id, data, "hidden_size")
    quantization, group_size = _quantization(data.get("quantization_config"))
    experts = _int(model_id, data, "num_local_experts", default=0, minimum=0)
    per_token = _int(model_id, data, "num_experts_per_tok", default=0, minimum=0)
    if experts > 1 and not 1 <= per_token <= experts:
        raise InvalidModelConfig(
            f"{model_id}: config.json num_experts_per_tok {per_token} must be between 1 and num_local_experts {experts}"
        )
    return ModelConfig(
        model_id=model_id,
        source=source,
        model_type=str(data.get("model_type", "")),
        hidden_size=hidden,
        intermediate_size=_int(model_id, data, "intermediate_size"),
        num_layers=_int(model_id, data, "num_hidden_layers"),
        num_attention_heads=heads,
        num_kv_heads=_int(model_id, data, "num_key_value_heads", default=heads),
        head_dim=_int(model_id, data, "head_dim", default=_default_head_dim(model_id, hidden, heads)),
        vocab_size=_int(model_id, data, "vocab_size"),
        max_position_embeddings=_int(model_id, data, "max_position_embeddings"),
        tie_word_embeddings=bool(data.get("tie_word_embeddings", False)),
        attention_bias=bool(data.get("attention_bias", False)),
        mlp_bias=bool(data.get("mlp_bias", False)),
        num_experts=experts,
        experts_per_token=per_token,
        # transformers 5 writes "dtype" where 4.x wrote "torch_dtype".
        dtype=str(data.get("torch_dtype") or data.get("dtype") or "bfloat16"),
        quantization=quantization,
        quantization_group_size=group_size,
        sliding_window=_sliding_window(model_id, data),
    )


def _sliding_window(model_id: str, data: dict[str, Any]) -> int | None:
    """The window, or None: vLLM treats null and 0 as no window (vllm/config/model.py
    ModelConfig.__post_init__) and so does a negative value (-1 in some configs)."""
    if data.get("use_sliding_window") is False:  # Qwen2-style configs that carry a window they do not use
        return None
    value = data.get("sliding_window")
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value <= 0):
        return None
    return _int(model_id, data, "sliding_window")


def _int(model_id: str, data: dict[str, Any], key: str, default: int | None = None, minimum: int = 1) -> int:
    value = data.get(key)
    if value is None:
        if default is None:
            raise InvalidModelConfig(f"{model_id}: config.json has no {key}, which sizing needs")
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise InvalidModelConfig(f"{model_id}: config.json {key} must be an integer of at least {minimum}, not {value!r}")


def _default_head_dim(model_id: str, hidden: int, heads: int) -> int:
    if hidden % heads:
        raise InvalidModelConfig(
            f"{model_id}: config.json has no head_dim and hidden_size {hidden} is not a multiple of "
            f"num_attention_heads {heads}"
        )
    return hidden // heads


def _quantization(config: Any) -> tuple[str | None, int | None]:
    if not isinstance(config, dict):
        return None, None
    method = str(config.get("quant_method", "")).lower()
    if method == "bitsandbytes":
        return ("bitsandbytes-8bit" if config.get("load_in_8bit") else "bitsandbytes-4bit"), None
    group_size = config.get("group_size")
    return _QUANT_METHODS.get(method, method or None), group_size if isinstance(group_size, int) else None
