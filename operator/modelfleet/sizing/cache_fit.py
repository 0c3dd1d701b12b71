"""How big the model is on disk, and whether the cache the user sized holds it.

The plan's ``weightsGiB`` is the size in GPU memory. On disk it can be
bigger: fp8 and bitsandbytes quantize a 16-bit checkpoint while loading, so
the cache holds (and the engine reads) two bytes per parameter. A repo that
is already fp8 is smaller than that; overestimating a cache is the safe side.
"""

from __future__ import annotations

import math
from decimal import Decimal

from modelfleet.api import LLMDeploymentSpec, Plan
from modelfleet.api.quantity import GIB, parse_quantity

# Quantizations applied while loading a 16-bit checkpoint.
QUANTIZED_AT_LOAD = frozenset({"fp8", "bitsandbytes-8bit", "bitsandbytes-4bit"})

REASON = "CacheTooSmall"


def checkpoint_gib(spec: LLMDeploymentSpec, plan: Plan) -> float:
    """GiB the engine's files take in the cache."""
    if spec.model.quantization in QUANTIZED_AT_LOAD:
        return plan.parameters * 2 / GIB
    return plan.weights_gi_b


def cache_too_small(spec: LLMDeploymentSpec, plan: Plan) -> str | None:
    """Why ``spec.cache.size`` cannot hold the planned model's files; None when it can or is not set.

    Only an explicit size can be too small (the default is the checkpoint
    plus headroom), and only for the modes that use it (pvc, none): a
    nodeLocal cache is the node's disk.
    """
    if spec.cache.size is None or spec.cache.mode == "nodeLocal":
        return None
    need = Decimal(str(checkpoint_gib(spec, plan))) * GIB
    have = parse_quantity(spec.cache.size)
    if have >= need:
        return None
    return (
        f"spec.cache.size {spec.cache.size} ({have / GIB:.1f} GiB) cannot hold the model's files, "
        f"{need / GIB:.1f} GiB on disk at quantization {spec.model.quantization}: give it at least "
        f"{math.ceil(need / GIB)}Gi, or leave it out to get the files plus 20%"
    )
