"""What a user does, end to end, on whichever cluster conftest.py targets.

Apply an example, wait until it serves, scale it with kubectl, delete it; and
check what the user would look at: the LLMDeployment's status, the engine
pods, the Service, and (where containers really run) its endpoints and the
engine answering through the Service.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.controlplane]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mistral-7b-vllm.yaml"
ENGINE_PORT = 8000
READY_TIMEOUT = 180  # kind: image already loaded, but a real pod still starts
GONE_TIMEOUT = 240  # kind: engine pods drain for their preStop (about 90 s) before they go
CHILD_KINDS = "deployments,replicasets,services,poddisruptionbudgets,daemonsets,persistentvolumeclaims,pods"


def model(target, name: str) -> dict:
    """The vLLM example, made to fit a test cluster.

    Both test clusters have an h100 pool of fake GPUs. Nothing is downloaded
    (cache none) or warmed up, and on kind the engine image is a small HTTP
    server that answers like vLLM (e2e/kind/fake-engine).
    """
    document = yaml.safe_load(EXAMPLE.read_text())
    document["metadata"]["name"] = name
    spec = document["spec"]
    spec.pop("autoscaling")  # off: spec.replicas rules, so kubectl scale drives it
    spec.update(replicas=1, gpu={"pools": ["h100"]}, serving={"maxModelLen": 4096, "maxConcurrency": 4},
                cache={"mode": "none"}, warmup={"enabled": "false"},
                # The Service straight to the engines: on kind the runtime image is the fake engine's
                # `modelfleet` stand-in, which runs no router. The router's objects on a real API server:
                # tests/integration/test_router_children.py; routing through it: test_real_node.py.
                routing={"mode": "service"})
    if target.engine_image:
        spec["engine"]["image"] = target.engine_image
    return document


def get(target, *args: str) -> dict:
    return json.loads(target.kubectl("get", *args, "-o", "json").stdout)


def serving(target, namespace: str, name: str, replicas: int) -> dict | None:
    """The LLMDeployment once the operator has seen its current spec and `replicas` serve."""
    obj = get(target, "llmd", name, "-n", namespace)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    if status.get("observedGeneration") != obj["metadata"]["generation"] or ready.get("status") != "True":
        return None
    return obj if status.get("readyReplicas") == replicas else None


def ready_pods(target, namespace: str, selector: str) -> list[dict]:
    pods = get(target, "pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def ready_endpoints(target, namespace: str, service: str) -> int:
    slices = get(target, "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={service}")["items"]
    return sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))


def check_serving(target, namespace: str, obj: dict, replicas: int) -> None:
    name = obj["metadata"]["name"]
    pods = wait_for(f"{replicas} ready engine pods", lambda: (p := ready_pods(
        target, namespace, obj["status"]["selector"])) and len(p) == replicas and p, 60)
    assert all(p["spec"]["nodeSelector"].get("modelfleet.io/pool") == "h100" for p in pods)
    assert all(p["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1" for p in pods)
    service = get(target, "service", name, "-n", namespace)
    assert service["spec"]["selector"].items() <= pods[0]["metadata"]["labels"].items()
    assert [p["port"] for p in service["spec"]["ports"]] == [ENGINE_PORT]
    assert obj["status"]["endpoint"].startswith(f"http://{name}.{namespace}.")
    if target.pods_run:
        # Only where pods really run: the local control plane gives pods loopback IPs (so whatever
        # connects to a pod stays on the machine), and EndpointSlices refuse loopback addresses.
        wait_for(f"{replicas} ready endpoints", lambda: ready_endpoints(target, namespace, name) == replicas, 60)
        # Through the API server's service proxy: the request reaches a real engine container.
        proxy = f"/api/v1/namespaces/{namespace}/services/{name}:http/proxy"
        target.kubectl("get", "--raw", f"{proxy}/health")
        assert "vllm:num_requests_waiting" in target.kubectl("get", "--raw", f"{proxy}/metrics").stdout


def children(target, namespace: str, name: str) -> list[str]:
    items = get(target, CHILD_KINDS, "-n", namespace, "-l", f"modelfleet.io/llmdeployment={name}")["items"]
    return [f"{i['kind']}/{i['metadata']['name']}" for i in items]


def apply_and_wait(target, namespace: str, name: str) -> dict:
    target.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(model(target, name)))
    return wait_for(f"{name} serving", lambda: serving(target, namespace, name, 1), READY_TIMEOUT)


def test_an_example_becomes_ready_with_its_pods_and_service(target, namespace, operator):
    obj = apply_and_wait(target, namespace, "mistral")
    assert obj["status"]["plan"]["pool"] == "h100" and obj["status"]["plan"]["tensorParallelSize"] == 1
    check_serving(target, namespace, obj, 1)
    row = target.kubectl("get", "llmd", "mistral", "-n", namespace, "--no-headers").stdout.split()
    assert row[:2] == ["mistral", "mistralai/Mistral-7B-Instruct-v0.3"] and row[5:7] == ["1", "1"]


def test_kubectl_scale_adds_a_serving_replica(target, namespace, operator):
    apply_and_wait(target, namespace, "mistral")
    target.kubectl("scale", "llmd/mistral", "-n", namespace, "--replicas=2")
    obj = wait_for("2 replicas serving", lambda: serving(target, namespace, "mistral", 2), READY_TIMEOUT)
    assert obj["spec"]["replicas"] == 2 and obj["status"]["desiredReplicas"] == 2
    check_serving(target, namespace, obj, 2)


def test_deleting_it_removes_every_child(target, namespace, operator):
    apply_and_wait(target, namespace, "mistral")
    assert children(target, namespace, "mistral")
    target.kubectl("delete", "llmd", "mistral", "-n", namespace, "--wait=true", timeout=GONE_TIMEOUT)
    wait_for("no children left", lambda: children(target, namespace, "mistral") == [], GONE_TIMEOUT)
