"""The generated CRD on a real API server (installed by the chart): accepted, and its rules match ours.

The offline validator (pydantic + the models' rules) and the API server (the
generated schema + CEL) must refuse the same documents and name the same
field, or a user who ran `modelfleet validate` would still be surprised.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from support.specs import INVALID, VALID, with_change

pytestmark = pytest.mark.controlplane

ROOT = Path(__file__).resolve().parents[2]
# Cases the server cannot judge as an LLMDeployment: the document is another kind.
NOT_FOR_THE_SERVER = {"kind"}


@pytest.fixture(scope="module")
def llmdeployments(cluster, chart_release):
    return DynamicClient(cluster.api).resources.get(api_version="modelfleet.io/v1alpha1", kind="LLMDeployment")


def dry_run_create(llmdeployments, namespace: str, document: dict) -> None:
    body = copy.deepcopy(document)
    body["metadata"]["namespace"] = namespace
    # kubectl asks for strict field validation by default; the dynamic client has no flag for it.
    llmdeployments.create(
        body=body, namespace=namespace, dry_run="All", query_params=[("fieldValidation", "Strict")]
    )


def test_the_crd_is_established_with_the_short_name(cluster, llmdeployments):
    assert "llmd" in cluster.kubectl("api-resources", "--api-group=modelfleet.io").stdout


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_the_examples_are_accepted(llmdeployments, namespace, example):
    dry_run_create(llmdeployments, namespace, yaml.safe_load(example.read_text()))


def test_the_reference_document_is_accepted(llmdeployments, namespace):
    dry_run_create(llmdeployments, namespace, VALID)


@pytest.mark.parametrize(
    ("change", "path", "hint"),
    [case for case in INVALID if case[1] not in NOT_FOR_THE_SERVER],
    ids=[c[1] + "=" + repr(c[0][1])[:20] for c in INVALID if c[1] not in NOT_FOR_THE_SERVER],
)
def test_the_server_refuses_what_validate_refuses(llmdeployments, namespace, change, path, hint):
    with pytest.raises(ApiException) as refused:
        dry_run_create(llmdeployments, namespace, with_change(*change))
    assert refused.value.status in (400, 422)
    assert path in refused.value.body, refused.value.body


def test_kubectl_explain_teaches_the_fields(cluster, llmdeployments):
    explained = cluster.kubectl("explain", "llmd.spec.serving").stdout
    assert "maxModelLen" in explained and "Default: the model's maximum context length" in explained


def test_printer_columns_are_served(cluster, llmdeployments, namespace):
    body = copy.deepcopy(VALID)
    body["metadata"]["namespace"] = namespace
    llmdeployments.create(body=body, namespace=namespace)
    header = cluster.kubectl("get", "llmd", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "MODEL", "ENGINE", "GPU", "TP", "READY", "DESIRED", "QUEUE", "HEALTH", "REASON", "AGE"]
