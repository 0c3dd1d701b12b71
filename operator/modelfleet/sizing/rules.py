"""What each engine can serve: tensor-parallel divisibility, quantizations, GPU capabilities.

The engine-specific facts come from its profile (``modelfleet.engines``:
``replicates_kv_heads``, ``memory.unservable``, each citing the engine's
source at its pinned version); the rules both engines share are here:

- Attention heads and intermediate_size must divide by TP (the
  column-parallel attention, MLP and expert layers); KV heads too, unless
  the engine replicates a KV head on each GPU when TP is a multiple of them.
- For awq and gptq: every GPU's slice of a row-parallel layer (o_proj
  input: heads × head_dim / TP, down_proj input: intermediate_size / TP)
  must hold whole quantization groups.
- Quantizations: awq and gptq need a repository of such weights (they cannot
  be made at load); what an engine cannot serve at all is its profile's
  ``memory.unservable``. An fp8 KV cache is served by both.
- GPUs: fp8 weights need compute capability 8.0 or newer in both engines
  (Ampere runs them weight-only through FP8 Marlin kernels; Ada, Hopper and
  Blackwell in hardware), so a T4 cannot serve them.
"""

from __future__ import annotations

from modelfleet.api.spec import EngineKind
from modelfleet.catalog import GPUInfo, ModelConfig
from modelfleet.engines import EngineProfile, profile_for

from .quantization import DEFAULT_GROUP_SIZE, PROJECTION_BYTES

PRE_QUANTIZED_ONLY = ("awq", "gptq")


def tensor_parallel_problems(engine: EngineKind, model: ModelConfig, tp: int, quantization: str) -> list[str]:
    """Why ``engine`` cannot shard ``model`` over ``tp`` GPUs; empty when it can."""
    profile = profile_for(engine)
    problems = []
    if model.num_attention_heads % tp:
        problems.append(f"{model.num_attention_heads} attention heads do not split over TP {tp}")
    problems += _kv_head_problems(profile, model.num_kv_heads, tp)
    if model.intermediate_size % tp:
        problems.append(f"intermediate size {model.intermediate_size} does not split over TP {tp}")
    if quantization in PRE_QUANTIZED_ONLY:
        problems += _group_problems(model, tp, quantization)
    return [f"{profile.name}: {problem}" for problem in problems]


def _kv_head_problems(profile: EngineProfile, kv_heads: int, tp: int) -> list[str]:
    if kv_heads % tp == 0:
        return []
    if profile.replicates_kv_heads:  # its kv_heads_source says where
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
    why = profile_for(engine).memory.unservable.get(quantization)
    if why:
        return [f"{why}: use engine tgi, or quantization fp8, awq or gptq"]
    return []


def gpu_problems(quantization: str, gpu: GPUInfo) -> list[str]:
    """Why ``gpu`` cannot run ``quantization``'s kernels; empty when it can."""
    if quantization == "fp8" and not gpu.runs_fp8_weights():
        major, minor = gpu.compute_capability
        return [f"fp8 weights need compute capability 8.0 or newer; {gpu.product} is {major}.{minor}"]
    return []
