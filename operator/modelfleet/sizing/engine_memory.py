"""Each engine's memory rules as sizing reads them, and the overheads no engine or config file gives.

The rules themselves (``EngineMemory``: budget, KV, overheads in or out of
the budget, each citing the engine's code at its pinned release) are part of
the engine's profile (``modelfleet.engines.vllm.MEMORY``, ``tgi.MEMORY``);
``tests/unit/test_engine_memory.py`` holds each one at the pinned version.
Here is what sizing does with them.
"""

from __future__ import annotations

from modelfleet.api.spec import EngineKind
from modelfleet.engines import profile_for
from modelfleet.engines.memory_rules import EngineMemory

# Overheads, per GPU, that no config file gives: typical sizes on Ampere/Hopper.
CUDA_CONTEXT_GIB = 0.5  # CUDA context (0.3-0.5 GiB) and NCCL buffers for TP > 1
NON_TORCH_GIB = 0.5  # cuBLAS/attention workspaces, caching-allocator fragmentation
CUDA_GRAPHS_GIB = 0.5  # decode graphs (vLLM logs 0.2-1 GiB for the capture)


def engine_memory(kind: EngineKind) -> EngineMemory:
    """The memory rules of the ``kind`` engine's profile."""
    return profile_for(kind).memory


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_tokens_per_sequence(rules: EngineMemory, max_model_len: int, sliding_window: int | None) -> int:
    """KV slots one sequence of ``max_model_len`` tokens holds at most in the engine's cache.

    vLLM: full attention takes cdiv(max_model_len, block) blocks
    (``FullAttentionSpec.max_memory_usage_bytes``); a sliding-window layer
    only the window plus the tokens in flight, plus one block for a window
    that starts mid-block (``SlidingWindowSpec``). TGI: the whole context.
    """
    if rules.windowed_kv and sliding_window:
        held = min(sliding_window - 1 + rules.in_flight_batches * rules.prefill_tokens, max_model_len)
        return (cdiv(held, rules.block_size) + 1) * rules.block_size
    return cdiv(max_model_len, rules.block_size) * rules.block_size
