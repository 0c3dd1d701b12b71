"""What the operator knows of one inference server at its pinned release: an ``EngineProfile``.

A profile is data and small pure functions: sizing asks its memory rules
(``memory_rules.EngineMemory``: the engine's own budget function, KV rule and
overheads) and reads its sharding rules, the renderer its image, flags, port,
probes and environment, the autoscaler its metric names, the warm-up its
HTTP dialect. None of them asks which engine it is. ``modelfleet.engines`` (the registry) says what a new
engine must provide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from modelfleet.api.spec import EngineKind

from .flags import ParserRules
from .memory_rules import EngineMemory

# Both engines listen on the same port, so the Service, the warm-up sidecar's
# URL and every client stay the same when a deployment switches engines.
# 8000 is vLLM's own default and is unprivileged (no NET_BIND_SERVICE needed).
PORT = 8000

# Files of a Hugging Face repo the engines load: config and tokenizer files,
# chat templates and the safetensors weights. ``model*.safetensors`` rather
# than ``*.safetensors``: Mistral repos ship the same weights a second time as
# ``consolidated.safetensors`` (Mistral's own format), which would double the
# download and the cache for nothing. ``*.bin``/``*.pt`` copies are skipped too.
HF_FILES = ("*.json", "model*.safetensors", "tokenizer*", "*.model", "*.txt", "*.jinja")


class Setting(Enum):
    """What an operator-owned flag carries, from the spec and the plan (``render.engine_args`` says how)."""

    MODEL_ID = "the model's repository id (spec.model.id)"
    REVISION = "the model's revision (spec.model.revision)"
    SERVED_MODEL_NAME = "the name clients ask for (spec.model.servedModelName)"
    LISTEN_ADDRESS = "every address of the pod (0.0.0.0)"
    PORT = "the engine's port (the profile's)"
    TENSOR_PARALLEL_SIZE = "GPUs per replica (the plan's tensorParallelSize)"
    MAX_MODEL_LEN = "the context (the plan's maxModelLen)"
    MAX_INPUT_TOKENS = "the longest prompt: the context less one token to generate"
    MAX_RUNNING_SEQUENCES = "the batch limit (spec.serving.maxConcurrency)"
    MAX_QUEUED_REQUESTS = "requests running or queued: maxConcurrency × the profile's queue allowance"
    PREFILL_TOKENS = "the largest forward pass (the plan's prefillTokens)"
    MEMORY_UTILIZATION = "the share of GPU memory the engine may use (spec.gpu.memoryUtilization)"
    QUANTIZATION = "the engine's name of spec.model.quantization, when the profile has one"
    QUANTIZATION_AT_LOAD = "the same, only when the plan has the engine quantize 16-bit weights at load"
    KV_CACHE_DTYPE = "the engine's name of spec.model.kvCacheDtype, when not auto"
    EXPERT_PARALLEL = "a switch, when the plan places whole experts on GPUs"


@dataclass(frozen=True)
class OwnedFlag:
    """A flag the operator sets; ``extraArgs`` may not set it again, unless ``user_may_set``: then a value in
    ``extraArgs`` replaces the operator's (the renderer leaves its own out) and the plan is sized with it (the
    profile's memory rules read it: ``EngineMemory.configured``)."""

    flag: str
    setting: Setting
    user_may_set: bool = False


@dataclass(frozen=True)
class HubRepoFlag:
    """A flag whose value can name another Hugging Face repository, which the pre-pull never fetched."""

    flag: str
    json_key: str | None = None  # the repository is this key of the flag's JSON value
    separator: str | None = None  # the value is a list of repositories joined by this


@dataclass(frozen=True)
class EngineMetrics:
    """Names of the Prometheus series one engine exposes on ``metrics_path``; earlier names are preferred.

    Names are metric *family* names as ``prometheus_client``'s parser reports
    them: a counter's family drops the ``_total`` suffix of its samples.
    """

    metrics_path: str
    waiting: tuple[str, ...]
    running: tuple[str, ...]
    kv_cache_usage: tuple[str, ...]
    completed: tuple[str, ...]
    # The KV cache's token slots: an info gauge whose labels give blocks × block size, or a plain gauge of tokens.
    kv_blocks_info: str | None = None
    kv_tokens: tuple[str, ...] = ()
    # Set when the pinned release never puts its KV cache size on ``metrics_path`` (why, citing its
    # source): a scrape without the figure is then final, not "not sized yet", and status says so.
    kv_tokens_unreported: str = ""
    # The log line, if any, that carries the figure the metrics lack (a regex whose group 1 is the tokens).
    kv_tokens_log_line: str | None = None


@dataclass(frozen=True)
class WarmupDialect:
    """What the warm-up may use of the engine's HTTP API besides OpenAI's ``/v1/completions``."""

    tokenize_path: str | None  # POST {"model", "prompt"} -> {"tokens": [...]}
    token_id_prompts: bool  # a completion's prompt may be a list of token ids
    # POST {"inputs"} -> [{"id", "start", "stop"}, ...]: each token's span in the text's UTF-8 bytes, so a text
    # can be cut after exactly N tokens where the engine takes no token ids
    token_offsets_path: str | None = None
    extra_body: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ColdStartMarks:
    """Log lines (regexes) that end the engine's inner cold-start phases, in the order it writes them.

    The operator reads the head of a new replica's engine log once, with the kubelet's timestamps, and takes
    the first line that matches each: ``weights_loaded`` (the checkpoint is in device memory),
    ``compiled`` (compilation, graph capture or the engine's own warm-up pass, and the KV cache allocated)
    and ``serving`` (the HTTP server listens). ``source`` cites where the engine writes them."""

    weights_loaded: str
    compiled: str
    serving: str
    source: str


@dataclass(frozen=True)
class CompileCache:
    """Where the engine keeps compiled artifacts it can reuse on the next start (an environment variable
    naming a directory), and what it does with an entry it cannot load (``on_bad_entry``, citing its source)."""

    env: str
    on_bad_entry: str


@dataclass(frozen=True)
class EngineProfile:
    """Facts about one inference server and its pinned image."""

    kind: EngineKind
    name: str  # as people write it
    version: str  # the pinned release the image, the rules and the tests follow
    default_image: str
    command: tuple[str, ...]  # empty: the image's entrypoint
    env: tuple[tuple[str, str], ...]  # what it needs to read the pre-pulled cache offline
    owned_flags: tuple[OwnedFlag, ...]  # in the order the renderer writes them
    parser: ParserRules
    repeated_flag_effect: str  # what the engine does with a flag given twice, for the refusal's message
    memory: EngineMemory
    metrics: EngineMetrics
    warmup: WarmupDialect
    # Sharding: may a KV head be replicated when TP exceeds the KV heads (else they must split evenly)?
    replicates_kv_heads: bool
    kv_heads_source: str
    # Can it place whole experts on GPUs (expert parallelism) instead of slicing each across TP ranks?
    expert_parallel: bool
    # When the engine tells a client which experts its tokens went to (the warm-up's expert coverage): the
    # sentence status.warmup.experts quotes when the warm-up learned nothing of them.
    routed_experts: str
    cold_start_marks: ColdStartMarks
    # None: the engine keeps nothing compiled across starts (its pods get no compile cache).
    compile_cache: CompileCache | None = None
    quantization_values: dict[str, str] = field(default_factory=dict)  # spec.model.quantization -> its name
    kv_cache_dtype_values: dict[str, str] = field(default_factory=dict)  # spec.model.kvCacheDtype -> its name
    queue_allowance: int = 1  # MAX_QUEUED_REQUESTS per sequence of maxConcurrency
    hub_repo_flags: tuple[HubRepoFlag, ...] = ()
    trust_remote_code_flag: str | None = None
    port: int = PORT
    health_path: str = "/health"
    files: tuple[str, ...] = HF_FILES  # glob patterns of repo files the pre-pull downloads
