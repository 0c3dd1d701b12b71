"""The generated CRD: committed copy in step, structural, documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from modelfleet.api.crd import PRINTER_COLUMNS, generate_crd
from modelfleet.api.spec import OPERATOR_ENV, REVISION_PATTERN
from modelfleet.cli.crd_cmd import crd_yaml
from support.specs import VALID, with_change

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "crds" / "modelfleet.io_llmdeployments.yaml"


def schema() -> dict[str, Any]:
    return generate_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path, depth first."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def test_committed_crd_is_the_generated_one():
    assert COMMITTED.read_text() == crd_yaml(), "crds/ is stale: run `make crds` and commit the result"


def test_schema_is_structural():
    forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "default", "const"}
    for path, node in nodes(schema()):
        assert not forbidden & node.keys(), f"{path or '(root)'} has {forbidden & node.keys()}"
        untyped_ok = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        assert node.get("type") or untyped_ok, f"{path or '(root)'} has no type"
        assert not ("properties" in node and "additionalProperties" in node), f"{path} mixes properties and a map"


def test_every_field_under_spec_and_status_has_a_description():
    missing = [
        path
        for path, node in nodes(schema())
        if path.startswith((".spec", ".status")) and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert missing == []


def test_contract_field_paths_exist():
    paths = {path for path, _ in nodes(schema())}
    contract = [
        ".spec.model.id", ".spec.model.revision", ".spec.model.tokenSecretRef.name", ".spec.model.tokenSecretRef.key",
        ".spec.model.quantization", ".spec.model.kvCacheDtype", ".spec.engine.kind", ".spec.engine.image",
        ".spec.engine.extraArgs", ".spec.engine.env", ".spec.serving.maxModelLen", ".spec.serving.maxConcurrency",
        ".spec.gpu.pools", ".spec.gpu.tensorParallelSize", ".spec.gpu.memoryUtilization", ".spec.replicas",
        ".spec.autoscaling.enabled", ".spec.autoscaling.minReplicas", ".spec.autoscaling.maxReplicas",
        ".spec.autoscaling.targetQueueDepth", ".spec.autoscaling.scaleUpStabilizationSeconds",
        ".spec.autoscaling.scaleDownStabilizationSeconds", ".spec.cache.mode", ".spec.cache.size",
        ".spec.cache.storageClassName", ".spec.warmup.enabled", ".spec.placement.nodeSelector",
        ".spec.placement.tolerations", ".spec.placement.affinity",
        ".status.observedGeneration", ".status.conditions", ".status.conditions[].type",
        ".status.conditions[].status", ".status.conditions[].reason", ".status.conditions[].message",
        ".status.conditions[].lastTransitionTime", ".status.conditions[].observedGeneration", ".status.plan",
        ".status.replicas", ".status.readyReplicas", ".status.desiredReplicas", ".status.queueDepth",
        ".status.selector", ".status.endpoint",
    ]
    assert [p for p in contract if p not in paths] == []


def test_enums_are_the_documented_ones():
    spec = schema()["properties"]["spec"]["properties"]
    assert spec["model"]["properties"]["quantization"]["enum"] == [
        "none", "fp8", "awq", "gptq", "bitsandbytes-8bit", "bitsandbytes-4bit"
    ]
    assert spec["model"]["properties"]["kvCacheDtype"]["enum"] == ["auto", "fp8"]
    assert spec["engine"]["properties"]["kind"]["enum"] == ["vllm", "tgi"]
    assert spec["cache"]["properties"]["mode"]["enum"] == ["pvc", "nodeLocal", "none"]


def test_cross_field_rules_are_cel():
    spec = schema()["properties"]["spec"]["properties"]
    rules = {
        "autoscaling": [".minReplicas"],
        "gpu": [".tensorParallelSize"],
        "cache": [".storageClassName", ".size"],
        "model": [".revision"],
        "engine": [".env"],
    }
    for name, fields in rules.items():
        validations = spec[name]["x-kubernetes-validations"]
        assert [v["fieldPath"] for v in validations] == fields
        assert all(v["message"] and v["rule"] for v in validations)
    env_var = spec["engine"]["properties"]["env"]["items"]
    assert [v["fieldPath"] for v in env_var["x-kubernetes-validations"]] == [".name"]
    toleration = spec["placement"]["properties"]["tolerations"]["items"]
    assert [v["fieldPath"] for v in toleration["x-kubernetes-validations"]] == [".tolerationSeconds", ".value"]


def test_the_env_rule_lists_every_variable_the_operator_owns():
    rule = schema()["properties"]["spec"]["properties"]["engine"]["properties"]["env"]["items"][
        "x-kubernetes-validations"][0]["rule"]
    assert all(f"'{name}'" in rule for name in OPERATOR_ENV)


def test_revision_pattern_follows_the_hubs_ref_rules():
    # fullmatch: Python's $ also matches before a final newline; RE2 (the API server) and pydantic's do not.
    pattern = re.compile(REVISION_PATTERN)
    for good in ("main", "v1.0", "refs/pr/1", "refs/convert/parquet", "a" * 40, "release-2024_01", "v1.0+cu121"):
        assert pattern.fullmatch(good), good
    for bad in ("../../../models--other--repo/refs/main", "..", "a/../b", "/main", "main/", "a//b", ".hidden",
                "a/.b", "v1.", "-x", "--trust-remote-code", "a b", "a@{1}", "a~1", "a^", "a:b", "a?", "a*", "a[",
                "a\\b", "main\n"):
        assert not pattern.fullmatch(bad), bad


def test_subresources_and_printer_columns():
    version = generate_crd()["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert "status" in version["subresources"]
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    for wanted in ["Model", "Engine", "GPU", "TP", "Ready", "Queue", "Age"]:
        assert wanted in names
    assert version["additionalPrinterColumns"] == PRINTER_COLUMNS


def test_conditions_are_a_list_map_keyed_by_type():
    conditions = schema()["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]


def test_committed_crd_is_valid_yaml_with_the_right_names():
    crd = yaml.safe_load(COMMITTED.read_text())
    assert crd["metadata"]["name"] == "llmdeployments.modelfleet.io"
    assert crd["spec"]["names"]["shortNames"] == ["llmd"]


# Issue 16's hostile values that the CRD's structural schema itself refuses (the CEL rules have their
# offline twin in each model's __rules__, checked by tests/unit/test_validate.py on the same documents).
SCHEMA_REFUSES = [
    ("spec.model.revision", "../../../models--other--repo/refs/main"),
    ("spec.model.revision", "/refs/main"),
    ("spec.model.revision", "--trust-remote-code"),
    ("spec.engine.env", [{"name": "A", "value": "x" * 1_048_576}]),
    ("spec.engine.env", [{"name": f"V{i}"} for i in range(65)]),
    ("spec.placement.nodeSelector", {"a": "x" * 64}),
    ("spec.placement.nodeSelector", {f"k{i}": "v" for i in range(33)}),
    ("spec.placement.tolerations", [{"key": "k" * 318}]),
]


@pytest.mark.parametrize(("path", "value"), SCHEMA_REFUSES, ids=[f"{p}={str(v)[:20]}" for p, v in SCHEMA_REFUSES])
def test_the_crd_schema_alone_refuses_hostile_values(path, value):
    validator = jsonschema.Draft4Validator(schema())  # OpenAPI v3.0's schema dialect is draft 4's
    assert validator.is_valid(VALID)
    errors = list(validator.iter_errors(with_change(path, value)))
    assert errors, f"{path}={str(value)[:40]} passed the schema"
    assert all(".".join(str(p) for p in e.absolute_path).startswith(path) for e in errors), errors
