"""``LLMDeployment.status``: what the operator observed and decided.

``Plan`` is also the sizing engine's answer for the chosen candidate, so the
plan a user sees with ``modelfleet plan`` and in ``kubectl describe`` is the
same object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import ApiModel
from .spec import EngineKind

ConditionType = Literal["Ready", "Progressing", "Degraded"]
ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """The Kubernetes condition shape (metav1.Condition)."""

    type: str = Field(description="Ready, Progressing or Degraded.", max_length=316)
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


class Plan(ApiModel):
    """A sized deployment: which GPUs, how many per replica, and the arithmetic."""

    engine: EngineKind = Field(description="Inference server the plan was sized for (vllm or tgi).")
    pool: str = Field(description="GPU node pool the replicas run on.")
    gpu_product: str = Field(description="GPU model, as GPU Feature Discovery names it (nvidia.com/gpu.product).")
    gpu_memory_gi_b: float = Field(description="Memory of one GPU, in GiB.")
    tensor_parallel_size: int = Field(description="GPUs one replica shards the model across.")
    gpus_per_replica: int = Field(description="nvidia.com/gpu requested by one replica.")
    expert_parallel: bool = Field(False, description="Experts are spread across the GPUs (mixture-of-experts models).")
    mixture_of_experts: bool = Field(False, description="The model is a mixture of experts.")
    parameters: int = Field(description="Parameters of the model.")
    weights_gi_b: float = Field(description="Memory the weights take in all, in GiB.")
    weights_gi_b_per_gpu: float = Field(description="Weights on each GPU, in GiB.")
    kv_cache_gi_b_per_gpu: float = Field(description="KV cache each GPU needs for maxConcurrency sequences, in GiB.")
    overhead_gi_b_per_gpu: float = Field(description="Activations, CUDA graphs and runtime reserved per GPU, in GiB.")
    budget_gi_b_per_gpu: float = Field(description="GPU memory times memoryUtilization, in GiB.")
    max_model_len: int = Field(description="Context length the plan was sized for, in tokens.")
    max_concurrent_sequences: int = Field(
        description="Sequences of maxModelLen tokens the free memory can hold at once."
    )
    price_per_hour: float = Field(description="Price of one replica per hour (GPUs times the pool's price).")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels that select the pool's nodes."
    )
    node_share_cpu_millicores: int | None = Field(
        None,
        description="A replica's share of its node's allocatable CPU (its GPUs over the node's), in millicores; "
        "the engine never requests more. Unset when the pool's nodes are not known.",
    )
    node_share_memory_mi_b: int | None = Field(
        None,
        description="A replica's share of its node's allocatable memory (its GPUs over the node's), in MiB; "
        "the engine never requests more. Unset when the pool's nodes are not known.",
    )
    reason: str = Field("", description="Why this plan was chosen, in numbers.")


class LLMDeploymentStatus(ApiModel):
    observed_generation: int | None = Field(
        None, description="The metadata.generation the operator last acted on.", ge=0
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing and Degraded, with reasons and messages.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    plan: Plan | None = Field(None, description="The sizing plan in force.")
    replicas: int | None = Field(None, description="Engine pods that exist.", ge=0)
    ready_replicas: int | None = Field(None, description="Engine pods that are Ready (warmed up).", ge=0)
    desired_replicas: int | None = Field(None, description="Replicas the operator asks for.", ge=0)
    queue_depth: float | None = Field(None, description="Requests waiting per ready replica, last scraped.")
    last_scale_time: str | None = Field(
        None, description="When the autoscaler last changed the replicas.", json_schema_extra={"format": "date-time"}
    )
    selector: str | None = Field(None, description="Label selector of the engine pods (for the scale subresource).")
    endpoint: str | None = Field(None, description="In-cluster URL of the OpenAI-compatible API.")
