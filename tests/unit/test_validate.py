"""Offline validation: valid examples pass, bad input names the field to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelfleet.api import InvalidSpec, parse_llmdeployment, validate_llmdeployment
from support.specs import INVALID, VALID, with_change

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))

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
    errors = [str(e) for e in validate_llmdeployment(["a", "list"])]
    assert errors == ["(document): must be a mapping (an object), not list"]


def test_defaults_are_applied_by_the_model_not_stored():
    resource = parse_llmdeployment(VALID)
    assert resource.spec.model.revision == "main"
    assert resource.spec.cache.mode == "nodeLocal"
    assert resource.spec.warmup.enabled == "auto"
    wire = resource.spec.model_dump(by_alias=True, exclude_unset=True)
    assert "cache" not in wire


def test_min_replicas_zero_needs_the_router_only_while_autoscaling_is_on():
    """A fleet whose autoscaling is off keeps its minReplicas 0 for later and may route through a plain Service."""
    off = {**VALID, "spec": {**VALID["spec"], "autoscaling": {"enabled": False, "minReplicas": 0},
                             "routing": {"mode": "service"}}}
    assert validate_llmdeployment(off) == []
