"""What each engine can serve: tensor-parallel divisibility, quantizations, GPU capabilities.

These rules live in sizing (not engines) because the sizing engine must know
them to choose a plan, and engines sits above sizing. They are checked
against the engines' code at the pinned versions (``engines.vllm.VLLM_VERSION``,
``engines.tgi.TGI_VERSION``):

- vLLM (``model_executor/models/llama.py``, ``mixtral.py``, which Mistral
  shares): attention heads % TP == 0; KV heads % TP == 0 when TP ≤ KV heads,
  else TP % KV heads == 0 and each GPU holds a replica of one KV head; the
  column-parallel MLP and expert layers need intermediate_size % TP == 0.
- TGI (``flash_mistral_modeling.py``, ``flash_mixtral_modeling.py``, its
  sharded weight loader): attention heads, KV heads and intermediate_size
  must all divide by the number of shards; TGI does not replicate KV heads.
- Both, for awq and gptq: every GPU's slice of a row-parallel layer (o_proj
  input: heads × head_dim / TP, down_proj input: intermediate_size / TP)
  must hold whole quantization groups.
- Quantizations: awq and gptq need a repository of such weights (they cannot
  be made at load). vLLM quantizes at load to fp8 (``--quantization
  fp8_per_tensor``) and serves no bitsandbytes at all any more
  (``engine_memory.VLLM.unservable`` says where); TGI maps all six values to
  ``--quantize`` (fp8, awq, gptq, bitsandbytes, bitsandbytes-nf4). An fp8 KV
  cache is served by both (vLLM ``--kv-cache-dtype fp8``, TGI
  ``--kv-cache-dtype fp8_e4m3fn``).
- GPUs: fp8 weights need compute capability 8.0 or newer in both engines
  (Ampere runs them weight-only through FP8 Marlin kernels; Ada, Hopper and
  Blackwell in hardware), so a T4 cannot serve them.
"""

from __future__ import annotations

from modelfleet.api.spec import EngineKind
from modelfleet.catalog import GPUInfo, ModelConfig

from .engine_memory import engine_memory
from .quantization import DEFAULT_GROUP_SIZE, PROJECTION_BYTES

ENGINE_NAMES = {"vllm": "vLLM", "tgi": "TGI"}
PRE_QUANTIZED_ONLY = ("awq", "gptq")


def tensor_parallel_problems(engine: EngineKind, model: ModelConfig, tp: int, quantization: str) -> list[str]:
    """Why ``engine`` cannot shard ``model`` over ``tp`` GPUs; empty when it can."""
    name = ENGINE_NAMES[engine]
    problems = []
    if model.num_attention_heads % tp:
        problems.append(f"{model.num_attention_heads} attention heads do not split over TP {tp}")
    problems += _kv_head_problems(engine, model.num_kv_heads, tp)
    if model.intermediate_size % tp:
        problems.append(f"intermediate size {model.intermediate_size} does not split over TP {tp}")
    if quantization in PRE_QUANTIZED_ONLY:
        problems += _group_problems(model, tp, quantization)
    return [f"{name}: {problem}" for problem in problems]


def _kv_head_problems(engine: EngineKind, kv_heads: int, tp: int) -> list[str]:
    if kv_heads % tp == 0:
        return []
    if engine == "vllm":
        if tp > kv_heads and tp % kv_heads == 0:
            return []
        return [f"{kv_heads} KV heads do not split over TP {tp}, and TP {tp} is not a multiple of them to replicate"]
    return [f"{kv_heads} KV heads do not split over TP {tp}"]


def _group_problems(model: ModelConfig, tp: int, quantization: str) -> list[str]:
    group = model.quantization_group_size or DEFAULT_GROUP_SIZE
    if group <= 0:
        return []
    slices = {
        "o_proj": model.num_attention_heads * model.head_dim / tp,
        "down_proj": model.intermediate_size / tp,
    }
    return [
        f"{layer}'s {width:g} input features per GPU at TP {tp} are not whole {quantization} groups of {group}"
        for layer, width in slices.items()
        if width % group
    ]


def quantization_problems(engine: EngineKind, model: ModelConfig, quantization: str) -> list[str]:
    """Why ``engine`` cannot serve ``model`` with ``quantization`` on any GPU; empty when it can."""
    stored = model.quantization
    if stored is not None and stored != quantization:
        if stored not in PROJECTION_BYTES:
            return [f"{model.model_id} holds {stored} weights (config.json quantization_config), "
                    "which modelfleet cannot size"]
        return [f"{model.model_id} holds {stored} weights (config.json quantization_config): "
                f"set spec.model.quantization to {stored}"]
    if quantization in PRE_QUANTIZED_ONLY and stored != quantization:
        return [f"{quantization} needs a repository of {quantization.upper()} weights (config.json "
                f"quantization_config.quant_method: {quantization}); {model.model_id} holds 16-bit weights: "
                f"use a {quantization.upper()} repository of it, or quantization fp8"]
    why = engine_memory(engine).unservable.get(quantization)
    if why:
        return [f"{why}: use engine tgi, or quantization fp8, awq or gptq"]
    return []


def gpu_problems(quantization: str, gpu: GPUInfo) -> list[str]:
    """Why ``gpu`` cannot run ``quantization``'s kernels; empty when it can."""
    if quantization == "fp8" and not gpu.runs_fp8_weights():
        major, minor = gpu.compute_capability
        return [f"fp8 weights need compute capability 8.0 or newer; {gpu.product} is {major}.{minor}"]
    return []
