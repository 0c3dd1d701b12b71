"""How each engine, at its pinned release, splits a GPU's memory: the rules sizing follows.

One ``EngineMemory`` per engine kind (``ENGINE_MEMORY``). These facts live in
sizing, not in ``engines``, for the reason ``rules`` gives: sizing must know
them and may not import ``engines`` (which imports sizing). The pinned
versions themselves are spelled once, in ``engines.vllm.VLLM_VERSION`` and
``engines.tgi.TGI_VERSION``; every rule below was read in that release's
source, cited by file and function, and ``tests/unit/test_engine_memory.py``
holds each one at the pinned version.

vLLM (``vllm/v1/worker/gpu_worker.py`` ``Worker.determine_available_memory``):
the KV cache gets ``total × gpu_memory_utilization`` (``v1/worker/utils.py``
``request_memory``) minus what the profiling run consumed since the worker's
memory snapshot: weights, the activation peak of one forward pass of
``--max-num-batched-tokens`` tokens, non-torch memory, and the CUDA-graph
estimate (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``, on by default).
The snapshot is taken *after* ``init_worker_distributed_environment``, so the
CUDA context and NCCL buffers are outside the budget: they come out of the
``1 - gpu_memory_utilization`` the engine leaves free.

TGI (``server/text_generation_server/models/flash_causal_lm.py``
``FlashCausalLM.warmup``): after a warm-up prefill of
``--max-batch-prefill-tokens`` tokens, the KV cache gets
``get_free_memory(device, MEMORY_FRACTION × TGI_WIGGLE_ROOM)``
(``utils/import_utils.py`` ``get_cuda_free_memory``: free memory minus
``(1 - fraction) × total``), with ``TGI_WIGGLE_ROOM`` 0.90
(``models/globals.py``) and ``MEMORY_FRACTION`` ``--cuda-memory-fraction``.
Free memory is read with ``mem_get_info``, so everything on the GPU counts
against that budget, the CUDA context included, and the warm-up's activation
peak too (no ``empty_cache`` between the prefill and the reading). CUDA graphs
are captured *after* the KV cache is allocated, so they live outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from modelfleet.api.spec import EngineKind

# Tokens of the largest forward pass, as the renderer passes them to the engine
# (so the engine profiles what the plan reserved):
# vLLM --max-num-batched-tokens: its own default is 8192 on H100/H200 for the
# OpenAI server and smaller elsewhere (engine/arg_utils.py
# EngineArgs._set_default_max_num_seqs_and_batched_tokens_args), so the flag
# is always set.
VLLM_MAX_NUM_BATCHED_TOKENS = 8192
# TGI --max-batch-prefill-tokens: TGI 3.x defaults it to the GPU's flops over
# the model's, else 4096 (launcher/src/main.rs, the max_batch_prefill_tokens
# default); not "the longest input". 4096 made explicit keeps the warm-up
# (and so the KV budget) the same on every GPU. Prompts longer than this are
# prefilled in chunks (flash models support chunking; the router checks
# max_input_tokens > max_batch_prefill_tokens only without it,
# backends/v3/src/main.rs).
TGI_MAX_BATCH_PREFILL_TOKENS = 4096
# TGI keeps 10 % of its memory fraction back (models/globals.py TGI_WIGGLE_ROOM).
TGI_WIGGLE_ROOM = 0.90

# Overheads, per GPU, that no config file gives: typical sizes on Ampere/Hopper.
CUDA_CONTEXT_GIB = 0.5  # CUDA context (0.3-0.5 GiB) and NCCL buffers for TP > 1
NON_TORCH_GIB = 0.5  # cuBLAS/attention workspaces, caching-allocator fragmentation
CUDA_GRAPHS_GIB = 0.5  # decode graphs (vLLM logs 0.2-1 GiB for the capture)


@dataclass(frozen=True)
class EngineMemory:
    """One engine's memory rules at its pinned release; each ``*_source`` names the code it follows."""

    name: str
    # The budget is gpu.memoryUtilization × this × GPU memory.
    budget_factor: float
    budget_source: str
    # Tokens of the largest forward pass the engine profiles (activation peak).
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


VLLM = EngineMemory(
    name="vLLM",
    budget_factor=1.0,
    budget_source="vllm/v1/worker/utils.py request_memory: total × gpu_memory_utilization",
    prefill_tokens=VLLM_MAX_NUM_BATCHED_TOKENS,
    prefill_source=("vllm/v1/worker/gpu_model_runner.py GPUModelRunner.profile_run: _dummy_run(max_num_batched_tokens), "
                    "then _dummy_sampler_run (logits of max_num_seqs sequences)"),
    windowed_kv=True,
    kv_source=(
        "vllm/v1/kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request: "
        "cdiv(min(sliding_window - 1 + max_in_flight_tokens, max_model_len), block_size) + 1 blocks, "
        "max_in_flight_tokens = max_concurrent_batches × max_num_batched_tokens (vllm/config/vllm.py)"
    ),
    # CacheConfig.DEFAULT_BLOCK_SIZE (vllm/config/cache.py)
    block_size=16,
    # Async scheduling is on by default on GPUs (vllm/config/vllm.py VllmConfig.__post_init__),
    # so max_concurrent_batches is 2; the CPU platform turns it off (vllm/platforms/cpu.py).
    in_flight_batches=2,
    cuda_context_in_budget=False,
    cuda_context_source=(
        "vllm/v1/worker/gpu_worker.py init_device: the memory snapshot is taken after "
        "init_worker_distributed_environment, so the context and NCCL fall outside the budget"
    ),
    cuda_graphs_in_budget=True,
    cuda_graphs_source=(
        "vllm/v1/worker/gpu_worker.py determine_available_memory: profile_cudagraph_memory is subtracted "
        "(VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1, the default since v0.21)"
    ),
    non_torch_source="vllm/utils/mem_utils.py memory_profiling: non_torch_increase counts in non_kv_cache_memory",
    activations_source="vllm/utils/mem_utils.py memory_profiling: transient_peak_headroom of the profile run",
    logits_of_max_concurrency=True,
    quantizes_at_load=frozenset({"fp8"}),
    load_source=(
        "vllm/model_executor/layers/quantization/online/fp8.py OnlineLinearBase: 16-bit weights on the meta "
        "device, materialized and quantized layer by layer (model_loader/reload/layerwise.py)"
    ),
    unservable={
        "bitsandbytes-8bit": "bitsandbytes is not a vLLM quantization method any more "
                             "(vllm/model_executor/layers/quantization/__init__.py QuantizationMethods)",
        "bitsandbytes-4bit": "bitsandbytes is not a vLLM quantization method any more "
                             "(vllm/model_executor/layers/quantization/__init__.py QuantizationMethods)",
    },
)

TGI = EngineMemory(
    name="TGI",
    budget_factor=TGI_WIGGLE_ROOM,
    budget_source=(
        "server/text_generation_server/models/flash_causal_lm.py FlashCausalLM.warmup: "
        "get_free_memory(device, MEMORY_FRACTION × TGI_WIGGLE_ROOM), TGI_WIGGLE_ROOM 0.90 (models/globals.py)"
    ),
    prefill_tokens=TGI_MAX_BATCH_PREFILL_TOKENS,
    prefill_source="backends/v3/src/client/grpc_client.rs warmup: requests filling max_batch_prefill_tokens",
    windowed_kv=False,
    kv_source=(
        "server/text_generation_server/models/model.py Model.info: window_size=None, so the router "
        "allocates blocks for the whole max_total_tokens of every request"
    ),
    # flashinfer (TGI's default attention on compute capability >= 8) uses blocks of 1 token (models/globals.py).
    block_size=1,
    in_flight_batches=1,
    cuda_context_in_budget=True,
    cuda_context_source=(
        "server/text_generation_server/utils/import_utils.py get_cuda_free_memory: mem_get_info counts "
        "everything on the GPU against the fraction"
    ),
    cuda_graphs_in_budget=False,
    cuda_graphs_source=(
        "server/text_generation_server/models/flash_causal_lm.py FlashCausalLM.warmup: graphs for "
        "batch sizes 1-32 are captured after init_kv_cache"
    ),
    non_torch_source="flash_causal_lm.py FlashCausalLM.warmup: read with mem_get_info after the warm-up",
    activations_source="flash_causal_lm.py FlashCausalLM.warmup: free memory read right after the warm-up prefill",
    logits_of_max_concurrency=False,
    quantizes_at_load=frozenset({"fp8", "bitsandbytes-8bit", "bitsandbytes-4bit"}),
    load_source="server/text_generation_server/layers/fp8.py Fp8Linear.from_unquant: each layer quantized as loaded",
    unservable={},
    # launcher/src/main.rs: "Bitsandbytes doesn't work with cuda graphs, deactivating them"
    no_cuda_graphs_with=frozenset({"bitsandbytes-8bit"}),
)

ENGINE_MEMORY: dict[EngineKind, EngineMemory] = {"vllm": VLLM, "tgi": TGI}

# vLLM's CPU build, which the engine tier and the KV capacity benchmark run: the CPU platform sets
# blocks of 128 tokens and turns async scheduling off, so one batch is in flight
# (vllm/platforms/cpu.py CpuPlatform.check_and_update_config); its KV cache is VLLM_CPU_KVCACHE_SPACE
# GiB exactly (same file; vllm/v1/worker/cpu_worker.py CPUWorker.determine_available_memory).
VLLM_CPU = replace(VLLM, name="vLLM (CPU)", block_size=128, in_flight_batches=1)


def engine_memory(kind: EngineKind) -> EngineMemory:
    return ENGINE_MEMORY[kind]


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
