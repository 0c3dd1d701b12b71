"""The operator's autoscaler on a real API server: scrape, decide, scale, report.

The engine pods are kwok fakes with loopback IPs; each ready one gets a
metrics server on its address (``support.fake_engines``) that reports the
queue the test sets. The operator scrapes the pods as it would in a cluster.
"""

from __future__ import annotations

import json
import threading

import pytest
import yaml
from kubernetes import client

from support.fake_engines import FakeEngines, following_pods
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

SCALE_DOWN_WINDOW = 6
FLEET = {
    "apiVersion": "modelfleet.io/v1alpha1",
    "kind": "LLMDeployment",
    "metadata": {"name": "fleet"},
    "spec": {
        "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
        "serving": {"maxModelLen": 4096, "maxConcurrency": 4},
        "gpu": {"pools": ["h100"]},
        "cache": {"mode": "none"},
        "warmup": {"enabled": "false"},
        "autoscaling": {
            "enabled": True, "minReplicas": 1, "maxReplicas": 4, "targetQueueDepth": 2,
            "scaleDownStabilizationSeconds": SCALE_DOWN_WINDOW,
        },
    },
}


@pytest.fixture
def engines(cluster, namespace):
    """Metrics servers that follow the fleet's ready pods as they come and go."""
    with following_pods(client.CoreV1Api(cluster.api), namespace, "fleet") as fake:
        yield fake


def llmd(cluster, namespace: str) -> dict:
    return json.loads(cluster.kubectl("get", "llmd", "fleet", "-n", namespace, "-o", "json").stdout)


def desired(cluster, namespace: str) -> int:
    return (llmd(cluster, namespace).get("status") or {}).get("desiredReplicas", 0)


def deployment_replicas(cluster, namespace: str) -> int:
    return client.AppsV1Api(cluster.api).read_namespaced_deployment("fleet", namespace).spec.replicas


def start_fleet(cluster, namespace: str, engines: FakeEngines) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(FLEET))
    wait_for("a scraped replica", lambda: engines.scrapes > 0, 60)


def test_a_queue_scales_up_and_an_idle_fleet_scales_down(cluster, namespace, operator, engines):
    start_fleet(cluster, namespace, engines)
    engines.set_load(waiting=12, running=4)
    wait_for("more replicas asked", lambda: desired(cluster, namespace) > 1, 30)
    wait_for("the Deployment scaled", lambda: deployment_replicas(cluster, namespace) > 1, 30)
    status = llmd(cluster, namespace)["status"]
    assert status["queueDepth"] > 2 and status["lastScaleTime"]
    owners = {m["manager"]: set(m["fieldsV1"].get("f:status", {})) for m in json.loads(cluster.kubectl(
        "get", "llmd", "fleet", "-n", namespace, "-o", "json", "--show-managed-fields").stdout)["metadata"][
        "managedFields"] if m.get("subresource") == "status"}
    assert {"f:desiredReplicas", "f:queueDepth", "f:lastScaleTime"} <= owners["modelfleet-autoscaler"]
    assert "f:desiredReplicas" not in owners["modelfleet"]  # the autoscaler's while autoscaling is on
    events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector",
                             "involvedObject.kind=LLMDeployment", "-o", "json").stdout
    assert any(e["source"].get("component") == "modelfleet" and "replica" in e["message"].lower()
               for e in json.loads(events)["items"] if e["reason"] not in ("PlanChosen", "RolloutStarted"))
    text = operator.metrics()
    assert f'modelfleet_llmdeployment_queue_depth{{name="fleet",namespace="{namespace}"}}' in text
    assert 'modelfleet_autoscaler_scalings_total{direction="up"' in text

    engines.set_load(waiting=0, running=0)
    wait_for("fewer replicas after the window", lambda: desired(cluster, namespace) == 1, SCALE_DOWN_WINDOW + 40)
    wait_for("the Deployment scaled down", lambda: deployment_replicas(cluster, namespace) == 1, 30)


def test_a_replica_that_cannot_be_scraped_holds_the_size(cluster, namespace, operator, engines):
    start_fleet(cluster, namespace, engines)
    engines.set_load(waiting=12, running=4)
    wait_for("two replicas or more", lambda: deployment_replicas(cluster, namespace) >= 2, 40)
    grown = desired(cluster, namespace)
    wait_for("every replica served", lambda: len(engines.addresses) >= grown, 30)

    engines.set_load(waiting=0, running=0)
    silent = engines.addresses[0]
    engines.silence(silent)
    before = engines.scrapes
    # Long past the scale-down window, with one replica's metrics missing: no step down.
    wait_for("scrapes to go on", lambda: engines.scrapes > before + 3 * grown, 20)
    threading.Event().wait(SCALE_DOWN_WINDOW + 4)
    assert desired(cluster, namespace) == grown
    assert deployment_replicas(cluster, namespace) == grown

    # The same idle fleet with every replica answering does step down: the hold was the missing data.
    engines.unsilence(silent)
    wait_for("fewer replicas", lambda: desired(cluster, namespace) < grown, SCALE_DOWN_WINDOW + 40)
