"""The shape of an engine's memory rules: how, at its pinned release, it splits a GPU's memory.

Each profile (``vllm.MEMORY``, ``tgi.MEMORY``) fills one ``EngineMemory``
with the rules read in that release's source, cited by file and function in
the ``*_source`` fields; ``tests/unit/test_engine_memory.py`` holds each one
at the pinned version. Sizing (``sizing.memory``, ``sizing.engine_memory``)
does the arithmetic with them and never asks which engine it is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineMemory:
    """One engine's memory rules at its pinned release; each ``*_source`` names the code it follows."""

    name: str
    # The budget is gpu.memoryUtilization × this × GPU memory.
    budget_factor: float
    budget_source: str
    # Tokens of the largest forward pass the engine profiles (activation peak); the renderer passes it.
    prefill_tokens: int
    prefill_source: str
    # KV per sequence: does the engine keep only the window of a sliding-window model?
    windowed_kv: bool
    kv_source: str
    block_size: int
    # Batches in flight at once (vLLM reserves window + this × max_num_batched_tokens).
    in_flight_batches: int
    cuda_context_in_budget: bool
    cuda_context_source: str
    cuda_graphs_in_budget: bool
    cuda_graphs_source: str
    non_torch_source: str
    activations_source: str
    # Logits in the profiled pass: vLLM samples max_num_seqs sequences (its sampler's dummy run); TGI's
    # warm-up samples its warm-up requests, prefill_tokens / max_input_tokens of them.
    logits_of_max_concurrency: bool
    # Quantizations the engine makes from 16-bit weights at load, and what it peaks at meanwhile.
    quantizes_at_load: frozenset[str]
    load_source: str
    # Quantizations it cannot serve at all, with why (source).
    unservable: dict[str, str]
    # Quantizations with which it captures no CUDA graphs.
    no_cuda_graphs_with: frozenset[str] = frozenset()
