"""Offline validation: valid examples pass, bad input names the field to fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from modelfleet.api import InvalidSpec, parse_llmdeployment, validate_llmdeployment

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

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
]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(example):
    assert validate_llmdeployment(yaml.safe_load(example.read_text())) == []


def test_the_reference_document_is_valid():
    assert validate_llmdeployment(VALID) == []


@pytest.mark.parametrize(("change", "path", "hint"), INVALID, ids=[c[1] + "=" + repr(c[0][1])[:20] for c in INVALID])
def test_invalid_documents_name_the_field(change, path, hint):
    errors = validate_llmdeployment(with_change(*change))
    assert errors, f"{change} was accepted"
    assert path in [e.path for e in errors], errors
    message = next(e.message for e in errors if e.path == path)
    assert hint.lower() in message.lower(), message


def test_there_are_at_least_fifteen_invalid_cases():
    assert len(INVALID) >= 15


def test_parse_raises_with_every_error():
    doc = with_change("spec.engine.kind", "triton")
    doc["spec"]["cache"] = {"mode": "s3"}
    with pytest.raises(InvalidSpec) as raised:
        parse_llmdeployment(doc)
    assert {e.path for e in raised.value.errors} == {"spec.engine.kind", "spec.cache.mode"}


def test_a_non_mapping_is_rejected():
    assert [str(e) for e in validate_llmdeployment(["a", "list"])] == ["(document): must be a mapping (an object), not list"]


def test_defaults_are_applied_by_the_model_not_stored():
    resource = parse_llmdeployment(VALID)
    assert resource.spec.model.revision == "main"
    assert resource.spec.cache.mode == "nodeLocal"
    assert resource.spec.warmup.enabled == "auto"
    wire = resource.spec.model_dump(by_alias=True, exclude_unset=True)
    assert "cache" not in wire
