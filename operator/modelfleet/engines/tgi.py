"""Hugging Face Text Generation Inference, as the pinned TGI image runs it: the TGI profile.

``TGI_VERSION`` is TGI's final release: the project went into maintenance
mode in December 2025 (its README) and its repository was archived in March
2026, so no later release will come. Checked against that tag's source
(``launcher/src/main.rs``, the router and the server, cited below):

Command line (``render.engine_args`` writes it from ``OWNED_FLAGS``):

- No command is set: the image's entrypoint script prepares the environment
  and then runs ``text-generation-launcher`` with our arguments.
- ``--hostname 0.0.0.0`` is explicit because the launcher reads the
  ``HOSTNAME`` variable, which Kubernetes sets to the pod name: TGI would
  listen on the pod IP only and the warm-up sidecar could not reach it on
  localhost.
- Context: ``--max-total-tokens`` is maxModelLen (prompt plus output) and
  ``--max-input-tokens`` maxModelLen - 1, TGI's own default split: a prompt
  may use the whole context as long as one token is left to generate.
- ``--max-concurrent-requests`` counts queued requests too, and TGI refuses
  (HTTP 429) beyond it. It is QUEUE_ALLOWANCE × maxConcurrency so that a queue
  can form (``tgi_queue_size``, which the autoscaler scales on) while a
  replica still pushes back before it drowns; the running batch is bounded by
  the KV memory TGI measures at warm-up.
- ``--cuda-memory-fraction`` is gpu.memoryUtilization and
  ``--max-batch-prefill-tokens`` the plan's prefill tokens: TGI gives its KV
  cache what is free after a warm-up prefill of that many tokens, within
  fraction × 0.90 of the GPU (``MEMORY``), which is the budget the plan was
  sized with. Without the flag TGI 3.x picks the prefill size from the GPU's
  flops (``launcher/src/main.rs``), so the warm-up, and with it the KV cache,
  would differ from GPU to GPU.
- Quantization: our names map to ``--quantize`` values; for awq/gptq TGI
  still picks its Marlin kernels where the GPU has them.
- ``--kv-cache-dtype fp8_e4m3fn`` for kvCacheDtype fp8: the same E4M3 format
  vLLM's ``fp8`` uses (scales from the checkpoint, else 1.0). TGI also offers
  ``fp8_e5m2``; E4M3 keeps the two engines numerically alike.
- The launcher's parser is clap (``launcher/src/main.rs`` ``struct Args``,
  ``#[derive(Parser)]``, clap 4 in ``launcher/Cargo.toml``). It takes
  ``--flag=value`` but no prefixes (clap's ``infer_long_args`` is off unless
  a command sets it, and ``Args`` does not) and no underscores for dashes;
  ``-p`` is ``--port`` (``#[clap(long, short)]`` on ``port``). It refuses a
  flag given twice.
- ``USAGE_STATS=off``: the router posts usage telemetry (its arguments, the
  model's config, the GPUs) to ``https://huggingface.co/api/telemetry/tgi``
  at start and every 15 minutes whenever it finds itself in a container
  (``router/src/usage_stats.rs`` ``is_container``: ``kubepods`` or
  ``containerd`` in ``/proc/self/cgroup``, so in every pod) and the level is
  ``on`` or ``no-stack`` (``router/src/server.rs`` ``run``). ``HF_HUB_OFFLINE``
  does not stop it. The level is the launcher's ``--usage-stats``, read from
  the ``USAGE_STATS`` variable too (``launcher/src/main.rs`` ``Args.usage_stats``,
  ``#[clap(default_value = "on", long, env)]``, values ``on``, ``off``,
  ``no-stack``), which the launcher hands the router as ``--usage-stats``.
  The variable, not the flag: ``extraArgs`` may still say ``--usage-stats on``
  (the flag wins over the variable in clap) without a refusal for a repeated flag.
- The image runs as root (weights cache default ``/data``, shard sockets in
  ``/tmp``); it cannot run with ``runAsNonRoot``.

Sharding (``flash_mistral_modeling.py``, ``flash_mixtral_modeling.py``, its
sharded weight loader): attention heads, KV heads and intermediate_size must
all divide by the number of shards; TGI does not replicate KV heads. It has
no expert-parallel switch: its mixture-of-experts layers shard every expert
across the tensor-parallel ranks, the same memory per GPU.

Memory (``server/text_generation_server/models/flash_causal_lm.py``
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

Metrics (``docs/source/reference/metrics.md`` and the router's
``metrics::describe_gauge!`` calls): gauges ``tgi_queue_size`` (requests
waiting) and ``tgi_batch_current_size`` (requests in the batch); counter
``tgi_request_success`` (requests finished). TGI exports no KV-cache usage.
The KV cache it got after warm-up would be the gauge
``tgi_batch_max_total_tokens``, but 3.3.7 never exports it:
``backends/v3/src/lib.rs`` ``connect_backend`` sets it right after the
warm-up, and only afterwards does ``router/src/server.rs`` ``start`` (from
``run``) set the Prometheus recorder (``metrics::set_global_recorder``), so
the value goes to the no-op recorder and is lost (seen on the real router:
``tests/engine/test_kv_capacity_tgi.py``). Nothing else serves it: ``/info``
leaves ``BackendInfo`` out (``router/src/lib.rs`` ``Info``). The only
record is the router's log line at start, "Setting max batch total tokens
to N" (the same ``connect_backend``), which the operator does not read; so
status says the figure is missing instead of judging nothing silently.
The series is still read should an image export it.

Warm-up: TGI's tokenizer endpoint and prompt types differ from vLLM's; its
long prompt is sized by an estimate of characters per token and shrunk when
refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from . import cache_layout
from .flags import ParserRules
from .memory_rules import (
    GPUMemory,
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
from .profile import ColdStartMarks, EngineMetrics, EngineProfile, HubRepoFlag, OwnedFlag, Setting, WarmupDialect

# TGI's final release (see the module docstring); nothing else in the code spells it.
TGI_VERSION = "3.3.7"

# --max-batch-prefill-tokens: TGI 3.x defaults it to the GPU's flops over the
# model's, else 4096 (launcher/src/main.rs, the max_batch_prefill_tokens
# default); not "the longest input". 4096 made explicit keeps the warm-up
# (and so the KV budget) the same on every GPU. Prompts longer than this are
# prefilled in chunks (flash models support chunking; the router checks
# max_input_tokens > max_batch_prefill_tokens only without it,
# backends/v3/src/main.rs).
MAX_BATCH_PREFILL_TOKENS = 4096
# TGI keeps 10 % of its memory fraction back (models/globals.py TGI_WIGGLE_ROOM).
TGI_WIGGLE_ROOM = 0.90

QUEUE_ALLOWANCE = 4

# The launcher's --usage-stats as a variable (launcher/src/main.rs Args.usage_stats: clap `env`).
USAGE_STATS_ENV = "USAGE_STATS"

OWNED_FLAGS = (
    OwnedFlag("--model-id", Setting.MODEL_ID),
    OwnedFlag("--revision", Setting.REVISION),
    OwnedFlag("--hostname", Setting.LISTEN_ADDRESS),
    OwnedFlag("--port", Setting.PORT),
    OwnedFlag("--num-shard", Setting.TENSOR_PARALLEL_SIZE),
    OwnedFlag("--max-input-tokens", Setting.MAX_INPUT_TOKENS),
    OwnedFlag("--max-total-tokens", Setting.MAX_MODEL_LEN),
    OwnedFlag("--max-concurrent-requests", Setting.MAX_QUEUED_REQUESTS),
    OwnedFlag("--cuda-memory-fraction", Setting.MEMORY_UTILIZATION),
    OwnedFlag("--max-batch-prefill-tokens", Setting.PREFILL_TOKENS),
    OwnedFlag("--quantize", Setting.QUANTIZATION),
    OwnedFlag("--kv-cache-dtype", Setting.KV_CACHE_DTYPE),
)

# clap resolves only what it was given (see the module docstring): the operator's flags, -p, and the
# flags that name repositories or run repository code.
PARSER = ParserRules(
    options={
        **{owned.flag: owned.flag for owned in OWNED_FLAGS},
        "-p": "--port",
        "--lora-adapters": "--lora-adapters",
        "--trust-remote-code": "--trust-remote-code",
    },
    source=(f"TGI {TGI_VERSION} launcher/src/main.rs struct Args "
            "(clap derive: long flags, -p for --port, no prefixes, env)"),
    env_fallback=True,
)

# launcher/src/main.rs: "Bitsandbytes doesn't work with cuda graphs, deactivating them"
NO_CUDA_GRAPHS_WITH = frozenset({"bitsandbytes-8bit"})


@dataclass(frozen=True)
class TgiMemory:
    """TGI's memory rules at ``TGI_VERSION`` (the module docstring's Memory paragraph): each answer cites
    the code it follows."""

    name = "TGI"
    prefill_tokens = MAX_BATCH_PREFILL_TOKENS  # backends/v3/src/client/grpc_client.rs warmup: requests filling it
    # flashinfer (TGI's default attention on compute capability >= 8) uses blocks of 1 token (models/globals.py).
    block_size = 1
    budget_rule = f"gpu.memoryUtilization × GPU memory × {TGI_WIGGLE_ROOM:g}"
    budget_source = (
        "server/text_generation_server/models/flash_causal_lm.py FlashCausalLM.warmup: "
        "get_free_memory(device, MEMORY_FRACTION × TGI_WIGGLE_ROOM), TGI_WIGGLE_ROOM 0.90 (models/globals.py)"
    )
    kv_source = (
        "server/text_generation_server/models/model.py Model.info: window_size=None, so the router "
        "allocates blocks for the whole max_total_tokens of every request"
    )
    quantizes_at_load = frozenset({"fp8", "bitsandbytes-8bit", "bitsandbytes-4bit"})
    load_source = "server/text_generation_server/layers/fp8.py Fp8Linear.from_unquant: each layer quantized as loaded"
    unservable: ClassVar[Mapping[str, str]] = MappingProxyType({})  # it serves every quantization of the API

    fixed_kv_cache = None  # TGI has no option that sets its KV cache outright

    def total(self, gpu: GPUMemory) -> float:
        """The GPU's memory as the node reports it. TGI too reads torch's total (utils/import_utils.py), but its
        rules were not checked against startup logs (issue 25 was vLLM's), so they keep the figure they were
        sized with."""
        return gpu.reported

    def budget(self, gpu_memory: float, memory_utilization: float) -> float:
        """get_free_memory(device, MEMORY_FRACTION × TGI_WIGGLE_ROOM): the fraction of the GPU, less 10 %."""
        return gpu_memory * memory_utilization * TGI_WIGGLE_ROOM

    def configured(self, engine_args: Sequence[str]) -> TgiMemory:
        """The options that size TGI's memory are the operator's (``OWNED_FLAGS``: prefill tokens, the memory
        fraction, the KV dtype); these rules read none of ``extraArgs``."""
        return self

    def settings(self, share: GPUShare) -> tuple[str, ...]:
        return (f"--max-batch-prefill-tokens {self.prefill_tokens} (the operator's)",)

    def kv_cache_dtype(self, spec_dtype: str) -> str:
        return spec_dtype

    def kv_slots(self, max_model_len: int, sliding_window: int | None) -> KVSlots:
        """The whole context of every request, sliding window or not (``kv_source``)."""
        return KVSlots(whole_blocks(max_model_len, self.block_size))

    def overheads(self, share: GPUShare) -> tuple[Overhead, ...]:
        """Free memory is read with mem_get_info right after the warm-up prefill, so everything on the GPU
        then counts against the budget; CUDA graphs are captured after the KV cache, outside it."""
        # The warm-up's requests are max_input_tokens (max_model_len - 1) long each, as many as fill the prefill.
        warmup_requests = cdiv(self.prefill_tokens, max(1, share.max_model_len - 1))
        return (
            activations(self.prefill_tokens, warmup_requests, share, in_budget=True, source=(
                "flash_causal_lm.py FlashCausalLM.warmup: free memory read right after the warm-up prefill")),
            cuda_graphs(captured=share.quantization not in NO_CUDA_GRAPHS_WITH, in_budget=False, source=(
                "server/text_generation_server/models/flash_causal_lm.py FlashCausalLM.warmup: graphs for "
                "batch sizes 1-32 are captured after init_kv_cache")),
            non_torch(in_budget=True, source=(
                "flash_causal_lm.py FlashCausalLM.warmup: read with mem_get_info after the warm-up")),
            cuda_context(in_budget=True, source=(
                "server/text_generation_server/utils/import_utils.py get_cuda_free_memory: mem_get_info counts "
                "everything on the GPU against the fraction")),
        )


MEMORY = TgiMemory()


METRICS = EngineMetrics(
    metrics_path="/metrics",
    waiting=("tgi_queue_size",),
    running=("tgi_batch_current_size",),
    kv_cache_usage=(),
    completed=("tgi_request_success",),
    kv_tokens=("tgi_batch_max_total_tokens",),
    kv_tokens_unreported=(
        f"TGI {TGI_VERSION} never puts tgi_batch_max_total_tokens on /metrics: backends/v3/src/lib.rs "
        "connect_backend sets the gauge before router/src/server.rs start sets the Prometheus recorder, "
        "so the value is lost. The router logs the figure once at start (\"Setting max batch total tokens "
        "to N\"); the operator reads a new replica's log for its cold-start phases only."
    ),
    kv_tokens_log_line=r"Setting max batch total tokens to (\d+)",
)

PROFILE = EngineProfile(
    kind="tgi",
    name="TGI",
    version=TGI_VERSION,
    default_image=f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}",
    command=(),
    # The launcher and the router look for weights and tokenizer in HUGGINGFACE_HUB_CACHE.
    # USAGE_STATS=off: no telemetry to huggingface.co from the router (see the module docstring).
    env=cache_layout.OFFLINE_ENV + (("HUGGINGFACE_HUB_CACHE", cache_layout.HUB_CACHE), (USAGE_STATS_ENV, "off"))
    + cache_layout.ENGINE_USER_ENV,
    owned_flags=OWNED_FLAGS,
    parser=PARSER,
    repeated_flag_effect="TGI refuses a flag given twice",
    memory=MEMORY,
    metrics=METRICS,
    # /tokenize answers each token's character span (router/src/server.rs tokenize, lib.rs SimpleToken);
    # the completions API takes text only (lib.rs CompletionRequest.prompt: Prompt, strings).
    warmup=WarmupDialect(tokenize_path=None, token_id_prompts=False, token_offsets_path="/tokenize"),
    replicates_kv_heads=False,
    kv_heads_source=("server/text_generation_server/models/custom_modeling/flash_mistral_modeling.py and "
                     "flash_llama_modeling.py: `num_key_value_heads` must be divisible by `num_shards`"),
    expert_parallel=False,
    routed_experts=(f"TGI {TGI_VERSION} tells a client nothing of the experts a request was routed to (no such "
                    "field in router/src/lib.rs's responses)"),
    cold_start_marks=ColdStartMarks(
        weights_loaded=r"Shard ready in",
        compiled=r"Setting max batch total tokens to",
        serving=r"\bConnected\b",
        source=("launcher/src/main.rs shard_manager (\"Shard ready in\": the model server loaded the weights), "
                "backends/v3/src/lib.rs connect_backend (\"Setting max batch total tokens to\": after the "
                "server's warm-up pass sized the KV cache), router/src/server.rs start (\"Connected\")"),
    ),
    quantization_values={
        "fp8": "fp8",
        "awq": "awq",
        "gptq": "gptq",
        "bitsandbytes-8bit": "bitsandbytes",
        "bitsandbytes-4bit": "bitsandbytes-nf4",
    },
    kv_cache_dtype_values={"fp8": "fp8_e4m3fn"},
    queue_allowance=QUEUE_ALLOWANCE,
    # launcher/src/main.rs Args.lora_adapters: "a list of adapter ids i.e. `repo/adapter1,repo/adapter2`".
    hub_repo_flags=(HubRepoFlag("--lora-adapters", separator=","),),
    trust_remote_code_flag="--trust-remote-code",
)
