"""``LLMDeployment.status``: what the operator observed and decided.

``Plan`` is also the sizing engine's answer for the chosen candidate, so the
plan a user sees with ``modelfleet plan`` and in ``kubectl describe`` is the
same object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel
from .quantity import GiB, MiB, Millicores
from .spec import EngineKind

# The conditions an LLMDeployment's status carries, said once: the reconcile writes the first three, the
# capacity loop KVCacheSufficient (controller/decide/fields.py; a unit test holds the two lists equal).
CONDITION_TYPES = ("Ready", "Progressing", "Degraded", "KVCacheSufficient")
_SOME = ", ".join(CONDITION_TYPES[:-1])
ConditionStatus = Literal["True", "False", "Unknown"]
# Argo CD's health words (gitops-engine's HealthStatusCode), the ones its check of an LLMDeployment answers.
Health = Literal["Healthy", "Progressing", "Degraded"]


class Condition(ApiModel):
    """The Kubernetes condition shape (metav1.Condition)."""

    type: str = Field(description=f"{_SOME} or {CONDITION_TYPES[-1]}.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word for the cause.", max_length=1024)
    message: str = Field("", description="What happened and what to change, for a person.", max_length=32768)
    last_transition_time: str = Field(
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        None, description="The metadata.generation this condition was computed from.", ge=0
    )


class PlanOverhead(ApiModel):
    """Memory the engine holds per GPU besides weights and KV cache, and the engine code the number follows."""

    name: str = Field(description="What holds the memory (activations, CUDA graphs, ...).")
    gi_b: GiB = Field(alias="memory", description="Memory per GPU.")
    in_budget: bool = Field(
        description="The engine counts it against its memory budget; otherwise it must fit in the memory "
        "the budget leaves free."
    )
    source: str = Field("", description="The engine source (file and function) the rule follows.")


class Plan(ApiModel):
    """A sized deployment: which GPUs, how many per replica, and the arithmetic."""

    engine: EngineKind = Field(description="Inference server the plan was sized for (vllm or tgi).")
    pool: str = Field(description="GPU node pool the replicas run on.")
    gpu_product: str = Field(description="GPU model, as GPU Feature Discovery names it (nvidia.com/gpu.product).")
    gpu_memory_gi_b: GiB = Field(alias="gpuMemory", description="Memory of one GPU.")
    tensor_parallel_size: int = Field(description="GPUs one replica shards the model across.")
    gpus_per_replica: int = Field(description="nvidia.com/gpu requested by one replica.")
    expert_parallel: bool = Field(False, description="Experts are spread across the GPUs (mixture-of-experts models).")
    mixture_of_experts: bool = Field(False, description="The model is a mixture of experts.")
    parameters: int = Field(description="Parameters of the model.")
    weights_gi_b: GiB = Field(alias="weights", description="Memory the weights take in all.")
    weights_gi_b_per_gpu: GiB = Field(alias="weightsPerGPU", description="Weights on each GPU.")
    kv_cache_gi_b_per_gpu: GiB = Field(alias="kvCachePerGPU",
                                       description="KV cache each GPU needs for maxConcurrency sequences.")
    overhead_gi_b_per_gpu: GiB = Field(
        alias="overheadPerGPU",
        description="Activations, CUDA graphs and runtime the engine counts against its budget per GPU.",
    )
    overheads: list[PlanOverhead] = Field(
        default_factory=list, description="Each overhead, inside or outside the budget, with its source."
    )
    budget_gi_b_per_gpu: GiB = Field(
        alias="budgetPerGPU",
        description="The engine's memory budget per GPU: memoryUtilization times the GPU's memory "
        "(vLLM), times 0.90 more for TGI's wiggle room."
    )
    load_peak_gi_b_per_gpu: GiB | None = Field(
        None, alias="loadPeakPerGPU",
        description="Weights per GPU while loading (more than the weights when quantized at load).",
    )
    quantized_at_load: bool = Field(False, description="The engine quantizes 16-bit weights while loading them.")
    prefill_tokens: int | None = Field(
        None, description="Tokens of the largest forward pass the engine is told to run (vLLM "
        "--max-num-batched-tokens, TGI --max-batch-prefill-tokens); its activations are in the overhead."
    )
    max_model_len: int = Field(description="Context length the plan was sized for, in tokens.")
    sliding_window: int | None = Field(None, description="The model's attention window (config.json), if any.")
    kv_tokens_per_sequence: int | None = Field(
        None, description="KV cache slots one sequence of maxModelLen tokens takes in the engine: the window "
        "plus the tokens in flight for vLLM's sliding-window layers, else maxModelLen."
    )
    kv_capacity_tokens: int | None = Field(
        None, description="KV cache slots the plan predicts for one replica (vLLM: num_gpu_blocks x "
        "block_size; TGI: max batch total tokens)."
    )
    max_concurrent_sequences: int = Field(
        description="Sequences of maxModelLen tokens the free memory can hold at once."
    )
    price_per_hour: float = Field(description="Price of one replica per hour (GPUs times the pool's price).")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels that select the pool's nodes."
    )
    node_share_cpu_millicores: Millicores | None = Field(
        None, alias="nodeShareCPU",
        description="A replica's share of its node's allocatable CPU (its GPUs over the node's); "
        "the engine never requests more. Unset when the pool's nodes are not known.",
    )
    node_share_memory_mi_b: MiB | None = Field(
        None, alias="nodeShareMemory",
        description="A replica's share of its node's allocatable memory (its GPUs over the node's); "
        "the engine never requests more. Unset when the pool's nodes are not known.",
    )
    reason: str = Field("", description="Why this plan was chosen, in numbers.")


class KVCapacity(ApiModel):
    """The KV cache the plan predicted against what a running engine reported."""

    planned_tokens: int = Field(description="KV cache slots the plan predicted for one replica.")
    planned_sequences: int = Field(description="Sequences of maxModelLen tokens the planned KV cache holds.")
    measured_tokens: int | None = Field(
        None, description="KV cache slots the engine reported (vLLM: num_gpu_blocks x block_size of "
        "vllm:cache_config_info; TGI: tgi_batch_max_total_tokens). Unset when the engine reports none "
        "(TGI 3.3.7: the condition KVCacheSufficient says why)."
    )
    measured_sequences: int | None = Field(
        None, description="Sequences of maxModelLen tokens the measured KV cache holds."
    )
    ratio: float | None = Field(None, description="measuredTokens / plannedTokens.")
    replica: str = Field("", description="The Ready pod the measurement was read from.")
    source: str = Field(
        "", description="Where measuredTokens came from (the request and the series), or 'none' when the "
        "engine reports no KV cache size."
    )


class WarmupMeasured(ApiModel):
    """What the warm-up sidecar of a Ready replica measured before it let the replica serve."""

    replica: str = Field(description="The Ready pod whose warm-up this is.")
    outcome: str = Field(description="complete, or timeout: the replica turned Ready unwarmed after "
                         "warmup.timeoutSeconds.")
    requests: int = Field(description="Requests the warm-up sent.", ge=0)
    failed: int = Field(description="Of those, requests the engine did not answer with 200.", ge=0)
    duration_seconds: float = Field(description="From the engine's first healthy answer to the end of the warm-up.")
    long_prompt_tokens: int | None = Field(
        None, description="Tokens of the long-context prompt (exact where the engine tokenizes for the warm-up).")
    experts: str = Field(description="What the warm-up learned of the experts: how many (layer, expert) pairs "
                         "its requests reached, or why the engine could not tell.")


# A replica's cold start, phase by phase, each ending at the moment its name says (the order a pod lives them).
COLD_START_PHASES = ("scheduled", "prepull_done", "image_pulled", "engine_started", "weights_loaded", "compiled",
                     "serving", "warmed_up", "ready")
# Cold starts status keeps, newest last: enough for a median that one odd start does not move.
COLD_START_SAMPLES = 8


def _phase(ends: str) -> float | None:
    return Field(None, description=f"Seconds from the previous phase's end to {ends}; unset when not observed "
                 "(its time is then in the next phase that was).", ge=0)


class ColdStartPhases(ApiModel):
    """Where a replica's cold start went, by phase (seconds). The phases add up to the total."""

    scheduled: float | None = _phase("the pod being bound to a node (from its creation)")
    prepull_done: float | None = _phase("the pre-pull init container's end (sandbox, runtime image, weights)")
    image_pulled: float | None = _phase("the engine image pulled (the kubelet's Pulled event)")
    engine_started: float | None = _phase("the engine container started")
    weights_loaded: float | None = _phase("the engine's log line that the weights are loaded")
    compiled: float | None = _phase("the engine's log line that compilation, graph capture and the KV cache are done")
    serving: float | None = _phase("the engine's log line that its HTTP server listens")
    warmed_up: float | None = _phase("the warm-up sidecar's summary line (warm-up done)")
    ready: float | None = _phase("the pod turning Ready")


class ColdStartSample(ApiModel):
    """One replica's cold start: pod created to Ready."""

    replica: str = Field(description="The pod.")
    created: str = Field(description="When the pod was created (RFC 3339).", json_schema_extra={"format": "date-time"})
    total_seconds: float = Field(description="Pod created to pod Ready.", ge=0)
    phases: ColdStartPhases = Field(description="The total, by phase.")
    unobserved: str = Field("", description="Which phases could not be read, and why (empty: none).")


class ColdStartSummary(ApiModel):
    """The median of the recent cold starts, in all and phase by phase."""

    samples: int = Field(description="Cold starts the medians are of.", ge=1)
    total_seconds: float = Field(description="Median of pod created to pod Ready.", ge=0)
    phases: ColdStartPhases = Field(description="Median of each phase, over the samples that observed it.")


class ColdStart(ApiModel):
    """How long new replicas took to serve: the last one, the median of the recent ones, and those."""

    last: ColdStartSample = Field(description="The newest replica measured.")
    median: ColdStartSummary = Field(description="Over the recent cold starts.")
    recent: list[ColdStartSample] = Field(
        description=f"The last {COLD_START_SAMPLES} cold starts, oldest first.", max_length=COLD_START_SAMPLES)


class Wake(ApiModel):
    """The last wake of a fleet scaled to zero, as the router measured it."""

    time: str = Field(description="When the first held request got a replica (RFC 3339).",
                      json_schema_extra={"format": "date-time"})
    wait_seconds: float = Field(description="How long that first request was held: from finding no replica ready "
                                "to a replica taking it (a whole cold start, warm-up included).", ge=0)


class CacheModeChosen(ApiModel):
    """The weights cache mode the pods have, and why (the spec's, the default, or one the namespace allows)."""

    mode: str = Field(description="pvc, nodeLocal or none.")
    reason: str = Field(description="spec.cache.mode, the default, or why the operator chose this one.")


class LLMDeploymentStatus(ApiModel):
    observed_generation: int | None = Field(
        None, description="The metadata.generation the operator last acted on.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description=f"{_SOME} and {CONDITION_TYPES[-1]}, with reasons and messages.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    health: Health | None = Field(
        None, description="Healthy, Progressing or Degraded: the conditions summed up in one word, as Argo CD's "
        "health check of an LLMDeployment reads them (kubectl get shows it)."
    )
    reason: str | None = Field(
        None, description="The reason of the condition that decided health: Degraded's when degraded, else Ready's "
        "or Progressing's (kubectl describe has its message).", max_length=1024
    )
    plan: Plan | None = Field(None, description="The sizing plan in force.")
    cache_mode: CacheModeChosen | None = Field(
        None, description="The weights cache mode the pods have, and why: the one spec.cache.mode asks for, or, when "
        "it is unset, one the namespace's Pod Security level allows."
    )
    replicas: int | None = Field(None, description="Engine pods that exist.", ge=0)
    ready_replicas: int | None = Field(None, description="Engine pods that are Ready (warmed up).", ge=0)
    desired_replicas: int | None = Field(None, description="Replicas the operator asks for.", ge=0)
    queue_depth: float | None = Field(None, description="Requests waiting per ready replica, last scraped.")
    kv_capacity: KVCapacity | None = Field(
        None, description="Planned vs measured KV cache of a Ready replica (condition KVCacheSufficient)."
    )
    warmup: WarmupMeasured | None = Field(
        None, description="What a Ready replica's warm-up measured (read with the KV capacity, once per plan). "
        "Unset without the warm-up sidecar (warmup.enabled)."
    )
    cold_start: ColdStart | None = Field(
        None, description="How long new replicas took from pod creation to Ready, by phase; the autoscaler plans "
        "with the median (the operator's estimate until one is measured)."
    )
    last_scale_time: str | None = Field(
        None, description="When the autoscaler last changed the replicas.", json_schema_extra={"format": "date-time"}
    )
    held_requests: int | None = Field(
        None, description="Requests the router holds because no replica is ready, last scraped (minReplicas 0: the "
        "first one wakes the fleet). Unset when the fleet cannot scale to zero.", ge=0)
    last_wake: Wake | None = Field(None, description="The last wake from zero: when, and how long the first request "
                                   "waited. Unset before the first.")
    selector: str | None = Field(None, description="Label selector of the engine pods (for the scale subresource).")
    endpoint: str | None = Field(None, description="In-cluster URL of the OpenAI-compatible API.")
