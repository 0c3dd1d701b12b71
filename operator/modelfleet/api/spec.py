"""``LLMDeployment.spec``: what the user asks for.

Field names and meanings are a contract other tools rely on (see DESIGN.md).
Defaults live here, in the operator, not in the CRD: the API server never
writes them into stored objects, so GitOps tools see no drift, and a default
can improve without a migration. Every description says its default.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt

from .base import ApiModel, Rule

Quantization = Literal["none", "fp8", "awq", "gptq", "bitsandbytes-8bit", "bitsandbytes-4bit"]
KVCacheDtype = Literal["auto", "fp8"]
EngineKind = Literal["vllm", "tgi"]
CacheMode = Literal["pvc", "nodeLocal", "none"]

# Tensor-parallel sizes the engines accept: powers of two up to the largest GPU node.
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8, 16)

# A Kubernetes quantity such as 200Gi or 1.5T (the API server's own pattern).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# A Hugging Face repo id: "name" or "owner/name".
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$"
# A DNS-1123 label, for pool names and Secret names.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"


class SecretKeyRef(ApiModel):
    name: str = Field(
        description="Name of a Secret in the LLMDeployment's namespace.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
    )
    key: str = Field(
        "token",
        description="Key in the Secret that holds the value. Default: token.",
        min_length=1,
        max_length=253,
    )


class ModelSpec(ApiModel):
    id: str = Field(
        description="Hugging Face repository id of the model, e.g. mistralai/Mixtral-8x7B-Instruct-v0.1.",
        pattern=MODEL_ID_PATTERN,
        max_length=200,
    )
    revision: str = Field(
        "main",
        description="Branch, tag or commit of the repository. Pin a commit for reproducible rollouts. Default: main.",
        min_length=1,
        max_length=200,
    )
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret holding a Hugging Face token, for gated or private models.",
    )
    quantization: Quantization = Field(
        "none",
        description="How the weights are stored: none (16-bit), fp8, awq or gptq (4-bit, pre-quantized repos), "
        "bitsandbytes-8bit or bitsandbytes-4bit (quantized at load). Default: none.",
    )
    kv_cache_dtype: KVCacheDtype = Field(
        "auto",
        description="Data type of the KV cache: auto (the model's dtype) or fp8 (half the memory). Default: auto.",
    )
    served_model_name: str | None = Field(
        None,
        description="Name clients use in OpenAI API requests. Default: the model id.",
        min_length=1,
        max_length=200,
    )


class EnvVar(ApiModel):
    name: str = Field(description="Environment variable name.", pattern=ENV_NAME_PATTERN, max_length=253)
    value: str = Field("", description="Environment variable value. Default: empty.")


class EngineSpec(ApiModel):
    kind: EngineKind = Field("vllm", description="Inference server: vllm or tgi. Default: vllm.")
    image: str | None = Field(
        None,
        description="Container image of the engine. Default: the operator's pinned image for the engine kind.",
        min_length=1,
        max_length=512,
    )
    extra_args: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list,
        description="Arguments appended to the engine's command line, after the ones the operator sets.",
        max_length=64,
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables for the engine container.",
        max_length=64,
    )


class ServingSpec(ApiModel):
    max_model_len: int | None = Field(
        None,
        description="Longest sequence (prompt plus output, in tokens) one request may use. "
        "Default: the model's maximum context length.",
        ge=16,
        le=1_048_576,
    )
    max_concurrency: int = Field(
        16,
        description="Sequences of maxModelLen tokens the KV cache of one replica must hold at once; "
        "also the engine's batch limit. Default: 16.",
        ge=1,
        le=4096,
    )


TensorParallelSize = Literal["auto"] | StrictInt


class GPUSpec(ApiModel):
    pools: list[Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]] = Field(
        default_factory=list,
        description="Candidate GPU node pools, in order of preference. Empty means any pool the cluster has.",
        max_length=32,
    )
    tensor_parallel_size: TensorParallelSize = Field(
        "auto",
        description="GPUs per replica: auto (the smallest size that fits) or one of 1, 2, 4, 8, 16. "
        "An explicit size is checked against memory and the engine's rules. Default: auto.",
        json_schema_extra={"x-kubernetes-int-or-string": True},
    )
    memory_utilization: float = Field(
        0.9,
        description="Fraction of each GPU's memory the engine may use for weights, KV cache and activations. "
        "Default: 0.9.",
        ge=0.5,
        le=0.98,
    )

    __rules__ = (
        Rule(
            field="tensorParallelSize",
            cel="!has(self.tensorParallelSize) || (type(self.tensorParallelSize) == string "
            "? self.tensorParallelSize == 'auto' : self.tensorParallelSize in [1, 2, 4, 8, 16])",
            check=lambda g: g.tensor_parallel_size == "auto" or g.tensor_parallel_size in TENSOR_PARALLEL_SIZES,
            message="tensorParallelSize must be auto or a power of two from 1 to 16",
        ),
    )


class AutoscalingSpec(ApiModel):
    enabled: StrictBool = Field(
        False,
        description="When true the operator sets the replica count from the engines' queue depth. "
        "When false spec.replicas rules, so kubectl scale, an HPA or KEDA can drive it. Default: false.",
    )
    min_replicas: int = Field(1, description="Fewest replicas the autoscaler keeps. Default: 1.", ge=1, le=1000)
    max_replicas: int = Field(4, description="Most replicas the autoscaler creates. Default: 4.", ge=1, le=1000)
    target_queue_depth: float = Field(
        4.0,
        description="Requests waiting per ready replica that the autoscaler aims for. Default: 4.",
        gt=0,
        le=10_000,
    )
    scale_up_stabilization_seconds: int = Field(
        0,
        description="How long higher recommendations must last before scaling up. Default: 0 (at once).",
        ge=0,
        le=3600,
    )
    scale_down_stabilization_seconds: int = Field(
        300,
        description="How long lower recommendations must last before scaling down. Default: 300.",
        ge=0,
        le=86_400,
    )

    __rules__ = (
        Rule(
            field="minReplicas",
            cel="(has(self.minReplicas) ? self.minReplicas : 1) <= (has(self.maxReplicas) ? self.maxReplicas : 4)",
            check=lambda a: a.min_replicas <= a.max_replicas,
            message="minReplicas must not exceed maxReplicas",
        ),
    )


class CacheSpec(ApiModel):
    mode: CacheMode = Field(
        "nodeLocal",
        description="Where weights are cached: pvc (one ReadWriteMany volume shared by all replicas), "
        "nodeLocal (a directory on each GPU node, filled by a pre-pull DaemonSet) or none (an emptyDir per pod). "
        "Default: nodeLocal.",
    )
    size: str | None = Field(
        None,
        description="Size of the cache volume (pvc, none), e.g. 200Gi. Default: the weights plus 20%.",
        pattern=QUANTITY_PATTERN,
        max_length=64,
    )
    storage_class_name: str | None = Field(
        None,
        description="StorageClass of the cache volume (pvc only). Default: the cluster's default class.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
    )

    __rules__ = (
        Rule(
            field="storageClassName",
            cel="!has(self.storageClassName) || (has(self.mode) && self.mode == 'pvc')",
            check=lambda c: c.storage_class_name is None or c.mode == "pvc",
            message="storageClassName is only used with mode pvc",
        ),
    )


class WarmupSpec(ApiModel):
    enabled: Literal["auto", "true", "false"] = Field(
        "auto",
        description="Warm the engine before the pod turns Ready: auto (on for mixture-of-experts models), "
        'true or false (quote them: "true", "false"). Default: auto.',
    )
    timeout_seconds: int = Field(
        600,
        description="Longest time the warm-up may take before the replica turns Ready anyway. Default: 600.",
        ge=10,
        le=7200,
    )


class Toleration(ApiModel):
    key: str | None = Field(None, description="Taint key the toleration applies to; empty matches all keys.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal. Default: Equal.")
    value: str | None = Field(None, description="Taint value the toleration matches (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        None, description="How long a NoExecute taint is tolerated; empty means forever."
    )


class PlacementSpec(ApiModel):
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels the GPU nodes must have, added to the chosen pool's own selector.",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations added to the pods, besides the nvidia.com/gpu one the operator always sets.",
        max_length=32,
    )
    affinity: dict[str, Any] | None = Field(
        None,
        description="A Kubernetes Affinity for the engine pods, merged with the pool's node affinity.",
        json_schema_extra={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )


class LLMDeploymentSpec(ApiModel):
    model: ModelSpec = Field(description="The model to serve.")
    engine: EngineSpec = Field(default_factory=EngineSpec, description="The inference server that runs it.")
    serving: ServingSpec = Field(default_factory=ServingSpec, description="Context length and concurrency.")
    gpu: GPUSpec = Field(default_factory=GPUSpec, description="Where and on how many GPUs each replica runs.")
    replicas: int = Field(
        1,
        description="Replicas when autoscaling is off (the scale subresource). Default: 1.",
        ge=0,
        le=1000,
    )
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec, description="Scaling on the engines' queue depth."
    )
    cache: CacheSpec = Field(default_factory=CacheSpec, description="Where model weights are cached.")
    warmup: WarmupSpec = Field(default_factory=WarmupSpec, description="Warm-up before a replica takes traffic.")
    placement: PlacementSpec = Field(
        default_factory=PlacementSpec, description="Extra scheduling constraints for the engine pods."
    )
