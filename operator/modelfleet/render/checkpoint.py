"""How big the model is on disk, and how long it takes to fetch and to load.

The plan's ``weightsGiB`` is the size in GPU memory. On disk it can be
bigger: fp8 and bitsandbytes quantize a 16-bit checkpoint while loading, so
the cache holds (and the engine reads) two bytes per parameter. A repo that
is already fp8 is smaller than that; overestimating a cache or a timeout is
the safe side.
"""

from __future__ import annotations

import math

from modelfleet.api import LLMDeploymentSpec, Plan

GIB = 2**30

# Quantizations applied while loading a 16-bit checkpoint.
QUANTIZED_AT_LOAD = frozenset({"fp8", "bitsandbytes-8bit", "bitsandbytes-4bit"})

# Assumed download rate from the Hugging Face Hub to one node (~0.8 Gbit/s):
# 100 GiB in about 17 minutes.
DOWNLOAD_MIB_PER_SECOND = 100


def checkpoint_gib(spec: LLMDeploymentSpec, plan: Plan) -> float:
    """GiB the engine's files take in the cache."""
    if spec.model.quantization in QUANTIZED_AT_LOAD:
        return plan.parameters * 2 / GIB
    return plan.weights_gi_b


def download_seconds(spec: LLMDeploymentSpec, plan: Plan) -> int:
    return math.ceil(checkpoint_gib(spec, plan) * 1024 / DOWNLOAD_MIB_PER_SECOND)
