"""The operator's closed loop on KV capacity, on a real API server.

The engine pods are kwok fakes with loopback IPs; each ready one gets a
metrics server on its address (``support.fake_engines``) serving a recorded
vLLM exposition whose ``vllm:cache_config_info`` reports the KV cache blocks
the test sets. The operator reads it, writes ``status.kvCapacity`` and the
``KVCacheSufficient`` condition, posts an event when that condition turns, and
exports both numbers on its /metrics.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client

from support.fake_engines import following_pods
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

NAME = "kvfleet"
FLEET = {
    "apiVersion": "modelfleet.io/v1alpha1",
    "kind": "LLMDeployment",
    "metadata": {"name": NAME},
    "spec": {
        "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
        "serving": {"maxModelLen": 4096, "maxConcurrency": 64},
        "gpu": {"pools": ["h100"]},
        "cache": {"mode": "none"},
        "warmup": {"enabled": "false"},
    },
}
BLOCK = 128  # the recorded exposition's block_size


@pytest.fixture
def engines(cluster, namespace):
    """Metrics servers that follow the fleet's pods."""
    with following_pods(client.CoreV1Api(cluster.api), namespace, NAME) as fake:
        yield fake


def status(cluster, namespace: str) -> dict:
    body = json.loads(cluster.kubectl("get", "llmd", NAME, "-n", namespace, "-o", "json").stdout)
    return body.get("status") or {}


def condition(cluster, namespace: str) -> dict | None:
    return next((c for c in status(cluster, namespace).get("conditions") or [] if c["type"] == "KVCacheSufficient"),
                None)


def status_fields(cluster, namespace: str) -> dict[str, dict]:
    """Each field manager's part of the status, as the API server tracks it (managedFields)."""
    body = json.loads(cluster.kubectl("get", "llmd", NAME, "-n", namespace, "-o", "json",
                                      "--show-managed-fields").stdout)
    return {m["manager"]: m["fieldsV1"]["f:status"] for m in body["metadata"]["managedFields"]
            if m.get("subresource") == "status" and "f:status" in m.get("fieldsV1", {})}


def events(cluster, namespace: str, reason: str) -> list[dict]:
    items = json.loads(cluster.kubectl("get", "events", "-n", namespace, "--field-selector",
                                       "involvedObject.kind=LLMDeployment", "-o", "json").stdout)["items"]
    return [e for e in items if e["reason"] == reason and e["source"].get("component") == "modelfleet"]


def test_a_kv_cache_too_small_for_max_concurrency_is_reported_and_its_recovery_too(cluster, namespace, operator,
                                                                                    engines):
    engines.num_gpu_blocks = 1024  # 131072 tokens: 32 sequences of 4096, half of maxConcurrency 64
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(FLEET))
    wait_for("the KV capacity measured", lambda: "kvCapacity" in status(cluster, namespace), 60)

    measured = status(cluster, namespace)["kvCapacity"]
    assert (measured["measuredTokens"], measured["measuredSequences"]) == (1024 * BLOCK, 32)
    planned = status(cluster, namespace)["plan"]["kvCapacityTokens"]
    assert measured["plannedTokens"] == planned and measured["ratio"] == round(1024 * BLOCK / planned, 3)
    short = condition(cluster, namespace)
    assert (short["status"], short["reason"]) == ("False", "KVCacheTooSmall")
    assert "32 (50%) short of serving.maxConcurrency 64" in short["message"]
    assert "model.kvCacheDtype fp8" in short["message"]
    wait_for("a Warning event", lambda: events(cluster, namespace, "KVCacheTooSmall"), 30)
    assert events(cluster, namespace, "KVCacheTooSmall")[0]["type"] == "Warning"
    text = operator.metrics()
    assert (f'modelfleet_llmdeployment_kv_capacity_tokens{{name="{NAME}",namespace="{namespace}",'
            f'source="measured"}} {float(1024 * BLOCK)}') in text
    assert (f'modelfleet_llmdeployment_kv_capacity_sequences{{name="{NAME}",namespace="{namespace}",'
            'source="planned"}') in text

    engines.num_gpu_blocks = 8192  # 1048576 tokens: 256 sequences
    wait_for("the condition turned True", lambda: (condition(cluster, namespace) or {}).get("status") == "True", 30)
    assert status(cluster, namespace)["kvCapacity"]["measuredSequences"] == 256
    wait_for("a Normal event", lambda: events(cluster, namespace, "KVCacheHoldsMaxConcurrency"), 30)
    assert len(events(cluster, namespace, "KVCacheTooSmall")) == 1  # one event per turn, not per round


def test_each_writer_owns_its_status_fields_and_a_new_plan_is_measured_afresh(cluster, namespace, operator, engines):
    """The reconcile and the capacity loop apply under their own field managers; the API server merges the
    conditions by type. A verdict found sufficient is not measured again, so only the capacity manager's own
    empty apply on the new plan (decide.capacity.standing) lets the new plan be measured."""
    engines.num_gpu_blocks = 8192
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(FLEET))
    wait_for("the KV cache found sufficient", lambda: (condition(cluster, namespace) or {}).get("status") == "True", 60)
    fields = status_fields(cluster, namespace)
    assert {"f:kvCapacity", "f:conditions"} <= set(fields["modelfleet-capacity"])
    assert set(fields["modelfleet-capacity"]["f:conditions"]) - {"."} == {'k:{"type":"KVCacheSufficient"}'}
    assert set(fields["modelfleet"]["f:conditions"]) - {"."} == {
        'k:{"type":"Ready"}', 'k:{"type":"Progressing"}', 'k:{"type":"Degraded"}'}
    assert "f:kvCapacity" not in fields["modelfleet"] and "f:plan" not in fields["modelfleet-capacity"]
    assert condition(cluster, namespace)["observedGeneration"] == 1

    cluster.kubectl("patch", "llmd", NAME, "-n", namespace, "--type=merge", "-p",
                    json.dumps({"spec": {"serving": {"maxConcurrency": 32}}}))
    wait_for("the new plan measured afresh",
             lambda: (condition(cluster, namespace) or {}).get("observedGeneration") == 2, 60)
