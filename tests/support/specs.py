"""LLMDeployment documents shared by the tiers: one valid, many invalid.

The unit tier checks them with the offline validator, the control-plane tier
against a real API server with the generated CRD: both must name the same field.
"""

from __future__ import annotations

import copy

VALID = {
    "apiVersion": "modelfleet.io/v1alpha1",
    "kind": "LLMDeployment",
    "metadata": {"name": "mixtral", "namespace": "llm"},
    "spec": {
        "model": {"id": "mistralai/Mixtral-8x7B-Instruct-v0.1"},
        "serving": {"maxModelLen": 32768, "maxConcurrency": 32},
        "gpu": {"pools": ["h100"], "tensorParallelSize": "auto"},
        "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 8},
    },
}


def with_change(path: str, value) -> dict:
    """VALID with one field set (value=DELETE removes it)."""
    doc = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()

# (change, the field path the error must name, a word the message must contain)
INVALID = [
    (("spec.model.quantization", "int3"), "spec.model.quantization", "fp8"),
    (("spec.model.kvCacheDtype", "fp16"), "spec.model.kvCacheDtype", "auto"),
    (("spec.engine.kind", "triton"), "spec.engine.kind", "vllm"),
    (("spec.cache.mode", "s3"), "spec.cache.mode", "nodeLocal"),
    (("spec.serving.maxModelLen", -1), "spec.serving.maxModelLen", "greater"),
    (("spec.serving.maxConcurrency", 0), "spec.serving.maxConcurrency", "greater"),
    (("spec.replicas", -2), "spec.replicas", "greater"),
    (("spec.autoscaling.minReplicas", 9), "spec.autoscaling.minReplicas", "maxReplicas"),
    (("spec.autoscaling.targetQueueDepth", 0), "spec.autoscaling.targetQueueDepth", "greater"),
    (("spec", {**VALID["spec"], "autoscaling": {"enabled": True, "minReplicas": 0}, "routing": {"mode": "service"}}),
     "spec.autoscaling.minReplicas", "routing.mode"),
    (("spec.model.id", DELETE), "spec.model.id", "required"),
    (("spec.model.id", "not a repo id!"), "spec.model.id", "pattern"),
    (("spec.gpu.tensorParallelSize", 3), "spec.gpu.tensorParallelSize", "power of two"),
    (("spec.gpu.tensorParallelSize", "many"), "spec.gpu.tensorParallelSize", "auto"),
    (("spec.gpu.tensorParallelSize", 32), "spec.gpu.tensorParallelSize", "power of two"),
    (("spec.gpu.memoryUtilization", 1.5), "spec.gpu.memoryUtilization", "less"),
    (("spec.gpu.pools", ["H100_pool"]), "spec.gpu.pools[0]", "pattern"),
    (("spec.serving.maxTokens", 100), "spec.serving.maxTokens", "allowed here: maxConcurrency, maxModelLen"),
    (("spec.modle", {"id": "x"}), "spec.modle", "unknown field"),
    (("spec.cache.storageClassName", "fast"), "spec.cache.storageClassName", "pvc"),
    (("spec.cache.size", "lots"), "spec.cache.size", "pattern"),
    (("spec.warmup.enabled", "sometimes"), "spec.warmup.enabled", "auto"),
    (("spec.warmup.enabled", True), "spec.warmup.enabled", "auto"),
    (("spec.autoscaling.enabled", "yes"), "spec.autoscaling.enabled", "boolean"),
    (("spec.model.tokenSecretRef", {"key": "token"}), "spec.model.tokenSecretRef.name", "required"),
    (("spec.engine.env", [{"name": "1BAD", "value": "x"}]), "spec.engine.env[0].name", "pattern"),
    (("metadata.name", "Mixtral_8x7B"), "metadata.name", "lower-case"),
    (("kind", "Deployment"), "kind", "LLMDeployment"),
    (("spec", DELETE), "spec", "required"),
    # Hostile or unworkable input (issue 16): refused at the schema, with the field named.
    (("spec.model.revision", "../../../models--other--repo/refs/main"), "spec.model.revision", "pattern"),
    (("spec.model.revision", "/refs/main"), "spec.model.revision", "pattern"),
    (("spec.model.revision", "v1..2"), "spec.model.revision", "pattern"),
    (("spec.model.revision", "--trust-remote-code"), "spec.model.revision", "pattern"),
    (("spec.model.servedModelName", "chat \U0001F916"), "spec.model.servedModelName", "pattern"),
    (("spec.model.revision", "main.lock"), "spec.model.revision", ".lock"),
    (("spec.engine.env", [{"name": "HF_HUB_OFFLINE", "value": "0"}]), "spec.engine.env[0].name", "operator's"),
    (("spec.engine.env", [{"name": "HF_HOME", "value": "/tmp"}]), "spec.engine.env[0].name", "pre-pulled cache"),
    (("spec.engine.env", [{"name": "HF_ENDPOINT", "value": "https://evil.example"}]), "spec.engine.env[0].name",
     "hubEndpoint"),
    (("spec.engine.env", [{"name": "VLLM_CACHE_ROOT", "value": "/cache"}]), "spec.engine.env[0].name", "scratch"),
    (("spec.engine.env", [{"name": "A", "value": "x" * 1_048_576}]), "spec.engine.env[0].value", "32768"),
    (("spec.engine.env", [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]), "spec.engine.env", "twice"),
    (("spec.engine.env", [{"name": f"V{i}"} for i in range(65)]), "spec.engine.env", "64"),
    (("spec.cache.size", "0"), "spec.cache.size", "at least 1Gi"),
    (("spec.cache.size", "-5Gi"), "spec.cache.size", "at least 1Gi"),
    (("spec.cache.size", "100Mi"), "spec.cache.size", "at least 1Gi"),
    (("spec.placement.tolerations", [{"key": "a", "effect": "NoSchedule", "tolerationSeconds": 5}]),
     "spec.placement.tolerations[0].tolerationSeconds", "NoExecute"),
    (("spec.placement.tolerations", [{"key": "a", "operator": "Exists", "value": "b"}]),
     "spec.placement.tolerations[0].value", "Exists"),
    (("spec.placement.nodeSelector", {"a": "x" * 64}), "spec.placement.nodeSelector.a", "63"),
    (("spec.placement.nodeSelector", {f"k{i}": "v" for i in range(33)}), "spec.placement.nodeSelector", "32"),
]


def small_mistral(name: str = "mistral", replicas: int = 2) -> dict:
    """A Mistral 7B that fits one H100 (TP 1), without cache or warm-up: quick to become Ready on kwok."""
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
            "serving": {"maxModelLen": 4096, "maxConcurrency": 4},
            "gpu": {"pools": ["h100"]},
            "replicas": replicas,
            "cache": {"mode": "none"},
            "warmup": {"enabled": "false"},
        },
    }
