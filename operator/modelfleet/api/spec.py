"""``LLMDeployment.spec``: what the user asks for.

Field names and meanings are a contract other tools rely on (see DESIGN.md).
Defaults live here, in the operator, not in the CRD: the API server never
writes them into stored objects, so GitOps tools see no drift, and a default
can improve without a migration. Every description says its default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt

from .base import ApiModel, Rule
from .quantity import GIB, is_quantity, parse_quantity

Quantization = Literal["none", "fp8", "awq", "gptq", "bitsandbytes-8bit", "bitsandbytes-4bit"]
KVCacheDtype = Literal["auto", "fp8"]
EngineKind = Literal["vllm", "tgi"]
CacheMode = Literal["pvc", "nodeLocal", "none"]
RoutingMode = Literal["leastInFlight", "prefix", "service"]

# Tensor-parallel sizes the engines accept: powers of two up to the largest GPU node.
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8, 16)

# A Kubernetes quantity such as 200Gi or 1.5T (the API server's own pattern).
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# A Hugging Face repo id: "name" or "owner/name".
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$"
# A DNS-1123 label, for pool names and Secret names.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

# A branch, tag or commit of a Hub repository, as git's ref rules allow them
# (git-check-ref-format(1)), narrowed to what is safe as a path and as a
# command-line argument: components of letters, digits, '_', '+', '-' and
# single inner dots, separated by single '/' (``main``, ``v1.0``,
# ``refs/pr/1``, a 40-hex commit). So no ``..``, no leading or trailing '/'
# or '.', no '//', no '@{', no space or control character, and no leading
# '-' (the engines would read it as a flag). huggingface_hub joins the
# revision into the cache unchecked, as ``<repo>/refs/<revision>``
# (``file_download._cache_commit_hash_for_specific_revision``), and so does
# the pre-pull: this pattern is what keeps it inside the repo's directory.
# The one git rule a pattern without look-ahead cannot say (a component
# ending in ``.lock``) is the rule on ModelSpec below.
REVISION_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_+-]*(\.[A-Za-z0-9_+-]+)*(/[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*)*$"
REVISION_LOCK_SUFFIX = r"[.]lock(/|$)"

# The smallest cache that can hold any model's files: a model's weights alone
# are more (the smallest model the project serves, the tests' tiny Mixtral,
# has a 1Gi cache on the real node, e2e/suite/test_real_node.py).
MIN_CACHE_BYTES = GIB
MIN_CACHE_SIZE = "1Gi"

# Environment variables the operator sets on the engine, pre-pull and warm-up
# containers (each engine profile's env: engines.cache_layout.OFFLINE_ENV and
# engines.vllm's and engines.tgi's own; render.runtime_containers,
# render.engine_container), and the Hub client's
# other spellings of them (huggingface_hub/constants.py), with why a user may
# not set them. tests/unit/test_render_env.py renders every engine and cache
# mode and fails when the operator sets a variable that is not here.
OPERATOR_ENV: dict[str, str] = {
    "HF_HOME": "points the engine at the pre-pulled cache",
    "HF_HUB_CACHE": "would move the engine off the pre-pulled cache",
    "HUGGINGFACE_HUB_CACHE": "points the engine at the pre-pulled cache",
    "HF_HUB_OFFLINE": "keeps the engine off the Hub: the pre-pull fetched every file",
    "HF_ENDPOINT": "the Hub is the operator's setting (hubEndpoint), not a replica's",
    "HF_TOKEN": "the token comes from spec.model.tokenSecretRef and only the pre-pull gets it",
    "HUGGING_FACE_HUB_TOKEN": "the token comes from spec.model.tokenSecretRef and only the pre-pull gets it",
    "HF_MODULES_CACHE": "remote code is cached in the pod's own scratch volume, not the shared cache",
    "VLLM_CACHE_ROOT": "vLLM's compile cache is the LLMDeployment's own (spec.cache.compileCache), not the "
                       "shared cache",
    "HOME": "the engine runs as a user its image does not know: its home is the pod's own scratch volume",
    "USER": "names the engine's user, which has no passwd entry, for the libraries that ask (getpass)",
    "USAGE_STATS": "TGI's usage telemetry to huggingface.co stays off (HF_HUB_OFFLINE does not stop it)",
}
ENV_VALUE_MAX_LENGTH = 32_768


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
        description="Branch, tag or 40-hex commit of the repository, e.g. main, v1.0, refs/pr/1. "
        "Pin a commit for reproducible rollouts. Default: main.",
        min_length=1,
        max_length=200,
        pattern=REVISION_PATTERN,
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
        description="Name clients use in OpenAI API requests: letters, digits and . _ - / : @ +, starting with "
        "a letter or digit (it travels in JSON bodies, command lines, metric labels and logs). Default: the "
        "model id.",
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$",
    )

    __rules__ = (
        Rule(
            field="revision",
            cel=f"!has(self.revision) || !self.revision.matches('{REVISION_LOCK_SUFFIX}')",
            check=lambda m: re.search(REVISION_LOCK_SUFFIX, m.revision) is None,
            message="revision must be a branch, tag or commit: git refuses a name ending in .lock",
        ),
    )


def _cel_list(names: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{name}'" for name in names) + "]"


class EnvVar(ApiModel):
    name: str = Field(
        description="Environment variable name. Not one the operator sets: " + ", ".join(OPERATOR_ENV) + ".",
        pattern=ENV_NAME_PATTERN,
        max_length=253,
    )
    value: str = Field(
        "",
        description=f"Environment variable value, at most {ENV_VALUE_MAX_LENGTH} characters. Default: empty.",
        max_length=ENV_VALUE_MAX_LENGTH,
    )

    __rules__ = (
        Rule(
            field="name",
            cel=f"!(self.name in {_cel_list(OPERATOR_ENV)})",
            check=lambda e: e.name not in OPERATOR_ENV,
            message="this variable is the operator's: HF_HOME, HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE and "
            "HF_HUB_OFFLINE keep the engine on the pre-pulled cache and off the Hub; HF_ENDPOINT, HF_TOKEN and "
            "HUGGING_FACE_HUB_TOKEN come from the operator's hubEndpoint and spec.model.tokenSecretRef; "
            "HF_MODULES_CACHE points at the pod's own scratch volume and VLLM_CACHE_ROOT at the LLMDeployment's "
            "compile cache; HOME and USER give the engine's non-root user a home in its scratch volume; USAGE_STATS "
            "keeps TGI's telemetry off. Remove it from spec.engine.env",
        ),
    )


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
        description="Arguments appended to the engine's command line, after the ones the operator sets. "
        "The plan is sized with those that change the engine's memory (vLLM: --max-num-batched-tokens, "
        "--enforce-eager, CUDA-graph capture sizes and mode, --kv-cache-dtype, --block-size, "
        "--kv-cache-memory-bytes); `modelfleet plan` shows what the engine runs with.",
        max_length=64,
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables for the engine container, each name once.",
        max_length=64,
    )

    __rules__ = (
        Rule(
            field="env",
            cel="!has(self.env) || self.env.all(e, self.env.filter(f, f.name == e.name).size() == 1)",
            check=lambda e: len({var.name for var in e.env}) == len(e.env),
            message="env names a variable twice; give each name once",
        ),
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
    min_replicas: int = Field(
        1,
        description="Fewest replicas the autoscaler keeps. 0 scales an idle fleet to zero after "
        "scaleToZeroAfterSeconds without a request; the router holds the next request and wakes a replica "
        "(so 0 needs routing through the router). Default: 1.",
        ge=0,
        le=1000,
    )
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
    scale_to_zero_after_seconds: int = Field(
        600,
        description="With minReplicas 0: how long the fleet must have had no request in flight and none held "
        "before it scales to zero. The first request after that waits a whole cold start. Default: 600.",
        ge=30,
        le=7 * 86_400,
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
        "Default: nodeLocal, or none in a namespace whose Pod Security level (baseline, restricted) forbids "
        "nodeLocal's hostPath (status.cacheMode says which, and why).",
    )
    size: str | None = Field(
        None,
        description=f"Size of the cache volume (pvc, none), e.g. 200Gi; at least {MIN_CACHE_SIZE}. "
        "Default: the weights plus 20%.",
        pattern=QUANTITY_PATTERN,
        max_length=64,
    )
    storage_class_name: str | None = Field(
        None,
        description="StorageClass of the cache volume (pvc only). Default: the cluster's default class.",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
    )
    compile_cache: bool = Field(
        True,
        description="Keep the engine's compiled artifacts (vLLM's torch.compile cache) for this LLMDeployment's next "
        "replicas: on the node (nodeLocal) or in the claim (pvc), under a directory of this object's own, keyed "
        "by engine image, model revision and engine flags, writable by its pods only. false, or mode none: each "
        "pod compiles into its own scratch volume. Default: true.",
    )

    __rules__ = (
        Rule(
            field="storageClassName",
            cel="!has(self.storageClassName) || (has(self.mode) && self.mode == 'pvc')",
            check=lambda c: c.storage_class_name is None or c.mode == "pvc",
            message="storageClassName is only used with mode pvc",
        ),
        Rule(
            field="size",
            # isQuantity first: a malformed size is the pattern's to report, once. The Kubernetes
            # quantity library is in the API server's CEL base environment since 1.28
            # (k8s.io/apiserver/pkg/cel/environment/base.go).
            cel=f"!has(self.size) || !isQuantity(self.size) || "
            f"quantity(self.size).compareTo(quantity('{MIN_CACHE_SIZE}')) >= 0",
            check=lambda c: c.size is None or not is_quantity(c.size) or parse_quantity(c.size) >= MIN_CACHE_BYTES,
            message=f"size must be at least {MIN_CACHE_SIZE}: no model's files fit in less "
            "(leave it out to get the weights plus 20%)",
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
    # Bounds and rules from Kubernetes' own validation of a toleration
    # (pkg/apis/core/validation: validateTolerations): a label key (253 + '/'
    # + 63) and value (63), tolerationSeconds only with NoExecute, no value
    # with Exists. Refused here, the user sees the field; refused on the
    # child Deployment, nobody would.
    key: str | None = Field(
        None, description="Taint key the toleration applies to; empty matches all keys.", max_length=317
    )
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal. Default: Equal.")
    value: str | None = Field(
        None, description="Taint value the toleration matches (operator Equal).", max_length=63
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        None, description="How long a NoExecute taint is tolerated; empty means forever."
    )

    __rules__ = (
        Rule(
            field="tolerationSeconds",
            cel="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
            check=lambda t: t.toleration_seconds is None or t.effect == "NoExecute",
            message="tolerationSeconds only applies to effect NoExecute; set effect: NoExecute or remove it",
        ),
        Rule(
            field="value",
            cel="!has(self.value) || self.value == '' || !has(self.operator) || self.operator != 'Exists'",
            check=lambda t: not t.value or t.operator != "Exists",
            message="a toleration with operator Exists matches any value; remove value or use operator Equal",
        ),
    )


class PlacementSpec(ApiModel):
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        description="Labels the GPU nodes must have, added to the chosen pool's own selector.",
        max_length=32,
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


class RolloutSpec(ApiModel):
    replace_in_place: bool = Field(
        False,
        description="Replace replicas one at a time, old before new (maxSurge 0, maxUnavailable 1), so a rollout "
        "needs no spare GPUs; one replica is down at a time. Default false: a new replica first, then an old "
        "one goes (capacity never dips, but the pool needs one replica's GPUs free, or the rollout waits: "
        "status says RolloutBlocked).",
    )


class RoutingSpec(ApiModel):
    mode: RoutingMode = Field(
        "leastInFlight",
        description="How requests to the LLMDeployment's Service reach its replicas. leastInFlight: through the "
        "modelfleet router (a Deployment <name>-router of at least 2 pods), which sends each request to the replica "
        "with the fewest requests in flight and holds requests while no replica is ready (a fleet waking up). "
        "prefix: the same router, sending requests that share a prompt prefix (system prompt, conversation) to the "
        "same replica, for the engines' prefix cache, within a bounded load. service: no router; the Service selects "
        "the engine pods, which kube-proxy picks at random. Switching changes only the Service's selector: its name, "
        "port and clients stay. Default: leastInFlight.",
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
    rollout: RolloutSpec = Field(default_factory=RolloutSpec, description="How a spec change replaces replicas.")
    routing: RoutingSpec = Field(
        default_factory=RoutingSpec, description="How requests reach the replicas: the router, or a plain Service."
    )

    __rules__ = (
        Rule(
            field="autoscaling.minReplicas",
            cel="!has(self.autoscaling) || !has(self.autoscaling.enabled) || !self.autoscaling.enabled "
            "|| !has(self.autoscaling.minReplicas) || self.autoscaling.minReplicas > 0 "
            "|| !has(self.routing) || !has(self.routing.mode) || self.routing.mode != 'service'",
            check=lambda s: not s.autoscaling.enabled or s.autoscaling.min_replicas > 0 or s.routing.mode != "service",
            message="autoscaling.minReplicas 0 (autoscaling on) needs the router to hold the requests that arrive "
            "while no replica runs: set routing.mode to leastInFlight or prefix, or minReplicas to 1 or more",
        ),
    )
