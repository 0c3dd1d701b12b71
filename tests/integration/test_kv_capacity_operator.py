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
