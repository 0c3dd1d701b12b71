"""The operator's own configuration (Helm values) and the GPU pools it sizes for.

A ``GPUPool`` is the same shape wherever it comes from: discovered from node
labels, declared in the operator's settings (node groups that scale from zero
have no nodes to discover), or read from ``modelfleet plan --pools POOLS.yaml``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .base import ApiModel
from .spec import DNS_LABEL_PATTERN, QUANTITY_PATTERN, EngineKind, Toleration

DEFAULT_POOL_LABEL_KEY = "modelfleet.io/pool"


class GPUPool(ApiModel):
    name: str = Field(
        description="Pool name, as spec.gpu.pools refers to it.", pattern=DNS_LABEL_PATTERN, max_length=63
    )
    gpu_product: str = Field(
        description="GPU model as GPU Feature Discovery names it (nvidia.com/gpu.product), e.g. NVIDIA-H100-80GB-HBM3.",
        min_length=1,
    )
    gpus_per_node: int = Field(description="GPUs on each node of the pool (nvidia.com/gpu.count).", ge=1, le=64)
    gpu_memory_mi_b: int | None = Field(
        None,
        description="Memory of one GPU in MiB (nvidia.com/gpu.memory). Default: the GPU catalog's value.",
        ge=1,
    )
    price_per_gpu_hour: float | None = Field(
        None, description="Price of one GPU for an hour. Default: the GPU catalog's list price.", ge=0
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels that select the pool's nodes. Default: the pool label key set to the pool name.",
    )
    nodes: int | None = Field(None, description="Nodes in the pool now (None when unknown or scaling from zero).", ge=0)
    node_cpu_millicores: int | None = Field(
        None, description="Allocatable CPU of the pool's smallest node, in millicores (None when unknown).", ge=1
    )
    node_memory_mi_b: int | None = Field(
        None, description="Allocatable memory of the pool's smallest node, in MiB (None when unknown).", ge=1
    )

    def selector(self, pool_label_key: str = DEFAULT_POOL_LABEL_KEY) -> dict[str, str]:
        return dict(self.node_selector) or {pool_label_key: self.name}


class RouterSettings(ApiModel):
    cpu_request: str = Field(
        "1",
        description="CPU request of each router pod. One router pod runs one event loop, which uses at most one "
        "core; the router pod count is sized at 5,000 streamed chunks per second per pod (docs/router.md). "
        "Lower it only where the router pods share a small node (a test cluster).",
        pattern=QUANTITY_PATTERN,
        max_length=64,
    )
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict, description="Node labels for the router pods (CPU pods: they use no GPU)."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations of the router pods. None by default: they stay off GPU nodes, which carry the "
        "nvidia.com/gpu taint.",
    )
    affinity: dict[str, Any] | None = Field(
        None,
        description="A Kubernetes Affinity for the router pods.",
        json_schema_extra={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )


class EndpointPickerSettings(ApiModel):
    """Where each InferencePool's endpoint picker (EPP) is: a Service of the user's, one per pool."""

    # 52 (api.resource.MAX_NAME_LENGTH) + 11 = 63, a Service name's limit.
    service_suffix: str = Field(
        "-epp",
        description="The picker's Service is the LLMDeployment's name followed by this (default <name>-epp, the "
        "name the Inference Extension's inferencepool Helm chart gives the picker it deploys for a pool of that "
        "name).",
        pattern=r"^-[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$",
    )
    port: int = Field(9002, description="The picker Service's gRPC (ext-proc) port: 9002 is the picker's default.",
                      ge=1, le=65535)
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        "FailOpen",
        description="What the gateway does when the picker does not answer: FailOpen sends the request to a "
        "replica of its own choosing (as the plain Service would); FailClose refuses it.",
    )


class InferencePoolSettings(ApiModel):
    """The InferencePool (inference.networking.k8s.io/v1) each LLMDeployment gets where the API server serves it."""

    enabled: bool = Field(
        True,
        description="Render an InferencePool for each LLMDeployment's engine pods when the API server serves "
        "inference.networking.k8s.io/v1 (the Gateway API Inference Extension's CRDs are installed). false: never.",
    )
    endpoint_picker: EndpointPickerSettings = Field(
        default_factory=EndpointPickerSettings,
        description="The endpoint picker each InferencePool names (spec.endpointPickerRef): deployed by you, per "
        "your gateway's docs (docs/inference-gateway.md).",
    )


class OperatorSettings(ApiModel):
    pool_label_key: str = Field(
        DEFAULT_POOL_LABEL_KEY, description="Node label whose value names a node's GPU pool."
    )
    declared_pools: list[GPUPool] = Field(
        default_factory=list, description="Pools to size for even when they have no nodes (scale from zero)."
    )
    gpu_prices: dict[str, float] = Field(
        default_factory=dict, description="Price per GPU-hour by GPU product, overriding the catalog's list prices."
    )
    engine_images: dict[EngineKind, str] = Field(
        default_factory=dict, description="Default engine image by engine kind (vllm, tgi), overriding the pinned ones."
    )
    allowed_engine_images: list[str] = Field(
        default_factory=list,
        description="Engine images (fnmatch patterns, e.g. registry.example.com/vllm/*) an LLMDeployment's "
        "spec.engine.image may name; others are refused (EngineImageNotAllowed). Empty: only the operator's own "
        "defaults (engineImages, else the pinned releases).",
    )
    allow_trust_remote_code: bool = Field(
        False,
        description="Whether spec.engine.extraArgs may pass the engine's --trust-remote-code, which runs Python "
        "code from the model's repository in the engine pod. Default: refused.",
    )
    runtime_image: str = Field(
        "ghcr.io/modelfleet/runtime:0.1.0",
        description="Image with the modelfleet command, for the pre-pull init container, the warm-up sidecar and "
        "the router pods.",
    )
    node_cache_path: str = Field(
        "/var/lib/modelfleet/cache", description="Directory on GPU nodes that holds weights in nodeLocal cache mode."
    )
    node_private_cache_path: str = Field(
        "/var/lib/modelfleet/private",
        description="Directory on GPU nodes under which weights fetched with a token (spec.model.tokenSecretRef) are "
        "cached in nodeLocal cache mode, in <namespace>: only that namespace's pods mount it. Keep it outside "
        "nodeCachePath, which every namespace's pre-pull mounts.",
    )
    node_compile_cache_path: str = Field(
        "/var/lib/modelfleet/compile",
        description="Directory on GPU nodes under which each LLMDeployment (nodeLocal cache mode) keeps its engine's "
        "compile cache, in <namespace>/<uid>/<key>.",
    )
    cold_start_estimate_seconds: float = Field(
        180.0,
        description="Pod created to Ready the autoscaler plans for until an LLMDeployment's replicas have measured "
        "their own (status.coldStart).",
        gt=0,
        le=3600,
    )
    router: RouterSettings = Field(
        default_factory=RouterSettings,
        description="The router pods in front of each LLMDeployment's replicas (spec.routing): their CPU request and "
        "where they run.",
    )
    hub_endpoint: str | None = Field(
        None,
        description="Hugging Face Hub endpoint (HF_ENDPOINT) the operator reads model configs from and the "
        "pre-pull downloads from: a mirror or proxy for clusters that cannot reach huggingface.co. "
        "Default: huggingface.co.",
        pattern=r"^https?://[^\s/]+(/\S*)?$",
    )
    inference_pool: InferencePoolSettings = Field(
        default_factory=InferencePoolSettings,
        description="The InferencePool of each LLMDeployment, for a Gateway API inference gateway "
        "(docs/inference-gateway.md).",
    )

    @model_validator(mode="after")
    def _private_cache_apart(self) -> OperatorSettings:
        # Every namespace's pre-pull of a public model mounts nodeCachePath whole (read-write): a private
        # directory under it would be in reach of every tenant's pod, and one above it would hold the public cache.
        public, private = PurePosixPath(self.node_cache_path), PurePosixPath(self.node_private_cache_path)
        if public == private or public in private.parents or private in public.parents:
            raise ValueError(f"nodePrivateCachePath ({private}) must be outside nodeCachePath ({public}) and not "
                             "contain it: every namespace's pre-pull mounts nodeCachePath")
        return self
