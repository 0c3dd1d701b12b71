"""The operator on a real API server, installed by the chart, under its own RBAC.

Each test applies LLMDeployments the way a user does (kubectl) and watches
what the operator makes of them: children, placement, status, events,
rollouts, restores, and the requests it sends (from the API server's audit log).
"""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest
import yaml
from kubernetes import client, watch

from localcluster import audit
from support.operator_process import (
    OPERATOR_NAMESPACE,
    RELEASE,
)
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{RELEASE}"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
READY_TIMEOUT = 90

MISTRAL = small_mistral(replicas=2)


def kubectl(cluster, *args, **kwargs):
    return cluster.kubectl(*args, **kwargs)


def apply(cluster, namespace: str, document: dict) -> None:
    kubectl(cluster, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def llmd(cluster, namespace: str, name: str) -> dict:
    return json.loads(kubectl(cluster, "get", "llmd", name, "-n", namespace, "-o", "json").stdout)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind), {})


def ready(cluster, namespace: str, name: str) -> dict | None:
    obj = llmd(cluster, namespace, name)
    current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
    return obj if current and condition(obj, "Ready").get("status") == "True" else None


def children(cluster, namespace: str, name: str) -> dict[str, list[str]]:
    out = kubectl(
        cluster, "get", "deployments,services,poddisruptionbudgets,persistentvolumeclaims,daemonsets,replicasets",
        "-n", namespace, "-l", f"modelfleet.io/llmdeployment={name}", "-o", "json",
    ).stdout
    found: dict[str, list[str]] = {}
    for item in json.loads(out)["items"]:
        found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return found


def pod_template_hash(apps: client.AppsV1Api, namespace: str, name: str) -> str:
    deployment = apps.read_namespaced_deployment(name, namespace)
    return deployment.spec.template.metadata.annotations["modelfleet.io/pod-spec-hash"]


def operator_writes(tail: audit.AuditTail, namespace: str) -> list[dict]:
    """Write requests the operator's ServiceAccount made in ``namespace`` since ``tail`` started."""
    return [
        e for e in tail.poll()
        if e.get("stage") == "ResponseComplete"
        and e.get("user", {}).get("username") == OPERATOR_USER
        and e.get("verb") in WRITE_VERBS
        and (e.get("objectRef") or {}).get("namespace") == namespace
    ]


def with_spec(document: dict, **changes) -> dict:
    changed = copy.deepcopy(document)
    for path, value in changes.items():
        node = changed["spec"]
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return changed


def test_create_deploys_on_the_planned_pool_and_turns_ready(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    obj = wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)

    plan = obj["status"]["plan"]
    assert (plan["pool"], plan["gpuProduct"], plan["tensorParallelSize"]) == ("h100", "NVIDIA-H100-80GB-HBM3", 1)
    assert obj["status"]["readyReplicas"] == 2 and obj["status"]["desiredReplicas"] == 2
    assert obj["status"]["endpoint"].startswith("http://mistral.")
    assert condition(obj, "Degraded")["status"] == "False"

    kinds = children(cluster, namespace, "mistral")
    # The engines' and, routing being on by default, the router's (tests/integration/test_router_children.py).
    assert sorted(kinds["Deployment"]) == ["mistral", "mistral-router"]
    assert sorted(kinds["Service"]) == ["mistral", "mistral-engines"]
    assert len(kinds["PodDisruptionBudget"]) == 2
    pods = client.CoreV1Api(cluster.api).list_namespaced_pod(namespace, label_selector=obj["status"]["selector"]).items
    assert len(pods) == 2 and all(p.spec.node_name.startswith("h100-") for p in pods)

    row = kubectl(cluster, "get", "llmd", "mistral", "-n", namespace, "--no-headers").stdout.split()
    assert row[:7] == ["mistral", "mistralai/Mistral-7B-Instruct-v0.3", "vllm", "NVIDIA-H100-80GB-HBM3", "1", "2", "2"]
    events = kubectl(cluster, "get", "events", "-n", namespace, "--field-selector",
                     "involvedObject.kind=LLMDeployment").stdout
    assert "PlanChosen" in events


def test_the_operator_writes_only_status_and_leaves_no_finalizer(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    obj = json.loads(kubectl(cluster, "get", "llmd", "mistral", "-n", namespace, "-o", "json",
                             "--show-managed-fields").stdout)
    assert not obj["metadata"].get("finalizers")
    assert not [a for a in obj["metadata"].get("annotations", {}) if "kopf" in a or a.startswith("modelfleet.io/")]
    managers = {(m["manager"], m.get("subresource", "")) for m in obj["metadata"]["managedFields"]}
    assert {sub for manager, sub in managers if not manager.startswith("kubectl")} == {"status"}, managers


def test_metrics_report_reconciles_and_replicas(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    text = operator.metrics()
    assert f'modelfleet_llmdeployment_ready_replicas{{name="mistral",namespace="{namespace}"}} 2.0' in text
    assert f'modelfleet_llmdeployment_desired_replicas{{name="mistral",namespace="{namespace}"}} 2.0' in text
    assert operator.reconciles() > 0
    assert "modelfleet_reconcile_duration_seconds_bucket" in text


def test_a_cache_volume_nobody_provisions_is_named_in_the_status(cluster, namespace, operator):
    apply(cluster, namespace, with_spec(MISTRAL, cache={"mode": "pvc", "storageClassName": "no-such-class"}))
    obj = wait_for("Progressing names the claim",
                   lambda: "mistral-cache is Pending" in condition(o := llmd(cluster, namespace, "mistral"),
                                                                    "Progressing").get("message", "") and o, 30)
    assert condition(obj, "Ready")["status"] == "False"


def test_a_spec_change_rolls_out_without_a_moment_of_zero_ready(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    apps = client.AppsV1Api(cluster.api)
    before = pod_template_hash(apps, namespace, "mistral")

    lowest_ready: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_record_ready, args=(apps, namespace, "mistral", lowest_ready, stop))
    watcher.start()
    try:
        apply(cluster, namespace, with_spec(MISTRAL, serving__maxModelLen=8192))
        wait_for("the rollout", lambda: _rolled_out(cluster, apps, namespace, before), READY_TIMEOUT)
    finally:
        stop.set()
        watcher.join()
    assert lowest_ready and min(lowest_ready) >= 1, lowest_ready
    assert "RolloutStarted" in kubectl(cluster, "get", "events", "-n", namespace).stdout


def test_an_autoscaling_only_change_does_not_roll_out(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    apps = client.AppsV1Api(cluster.api)
    before = pod_template_hash(apps, namespace, "mistral")
    replica_sets = children(cluster, namespace, "mistral")["ReplicaSet"]

    apply(cluster, namespace, with_spec(MISTRAL, autoscaling={"maxReplicas": 6, "targetQueueDepth": 8}))
    generation = llmd(cluster, namespace, "mistral")["metadata"]["generation"]
    wait_for("the change observed",
             lambda: llmd(cluster, namespace, "mistral")["status"].get("observedGeneration") == generation)
    assert pod_template_hash(apps, namespace, "mistral") == before
    assert children(cluster, namespace, "mistral")["ReplicaSet"] == replica_sets


def test_kubectl_scale_works_when_autoscaling_is_off(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    kubectl(cluster, "scale", "llmd/mistral", "-n", namespace, "--replicas=3")
    obj = wait_for("3 ready replicas", lambda: (o := ready(cluster, namespace, "mistral")) and
                   o["status"]["readyReplicas"] == 3 and o, READY_TIMEOUT)
    assert obj["spec"]["replicas"] == 3 and obj["status"]["replicas"] == 3


def test_deleting_the_llmdeployment_collects_every_child(cluster, namespace, operator):
    apply(cluster, namespace, with_spec(MISTRAL, cache={"mode": "nodeLocal"}))
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    assert "DaemonSet" in children(cluster, namespace, "mistral")
    kubectl(cluster, "delete", "llmd", "mistral", "-n", namespace, "--wait=true")
    wait_for("no children", lambda: children(cluster, namespace, "mistral") == {}, 60)


def test_a_deleted_or_edited_child_is_restored(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    core, apps = client.CoreV1Api(cluster.api), client.AppsV1Api(cluster.api)
    old_uid = core.read_namespaced_service("mistral", namespace).metadata.uid
    core.delete_namespaced_service("mistral", namespace)
    wait_for("the Service restored", lambda: _service_uid(core, namespace) not in (None, old_uid), 30)

    apps.patch_namespaced_deployment("mistral", namespace, {"spec": {"replicas": 7}})
    wait_for("replicas restored", lambda: apps.read_namespaced_deployment("mistral", namespace).spec.replicas == 2, 30)


def test_a_resync_with_nothing_changed_writes_nothing(cluster, namespace, operator):
    tail = audit.AuditTail()
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    settled = _settled_write_count(tail, namespace)
    assert settled > 0, "the audit log shows no write by the operator at all: is it recording?"
    reconciles_before = operator.reconciles()
    wait_for("three resyncs", lambda: operator.reconciles() >= reconciles_before + 3, 30)
    assert len(operator_writes(tail, namespace)) == settled, [
        (e["verb"], e["objectRef"]) for e in operator_writes(tail, namespace)[settled:]
    ]


def test_an_operator_killed_mid_rollout_converges_after_restart(cluster, namespace, operator):
    apply(cluster, namespace, MISTRAL)
    wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    apps = client.AppsV1Api(cluster.api)
    before = pod_template_hash(apps, namespace, "mistral")
    apply(cluster, namespace, with_spec(MISTRAL, model={**MISTRAL["spec"]["model"], "revision": "v0.3-pinned"}))
    wait_for("the rollout to start", lambda: pod_template_hash(apps, namespace, "mistral") != before, 30)
    operator.kill()
    operator.start()
    wait_for("the rollout", lambda: _rolled_out(cluster, apps, namespace, before), READY_TIMEOUT)
    kinds = children(cluster, namespace, "mistral")
    assert (sorted(kinds["Deployment"]), sorted(kinds["Service"]), len(kinds["PodDisruptionBudget"])) == (
        ["mistral", "mistral-router"], ["mistral", "mistral-engines"], 2)
    for replica_set in apps.list_namespaced_replica_set(namespace).items:
        assert [ref.name for ref in replica_set.metadata.owner_references] in (["mistral"], ["mistral-router"])


def test_an_impossible_plan_is_degraded_with_numbers_and_recovers(cluster, namespace, operator):
    impossible = with_spec(
        MISTRAL,
        model={"id": "mistralai/Mixtral-8x22B-Instruct-v0.1"},
        gpu={"pools": ["l4"]},
        serving={"maxModelLen": 65536, "maxConcurrency": 8},
    )
    impossible["metadata"]["name"] = "huge"
    apply(cluster, namespace, impossible)
    obj = wait_for("Degraded", lambda: condition(o := llmd(cluster, namespace, "huge"), "Degraded").get("status")
                   == "True" and o, 30)
    message = condition(obj, "Degraded")["message"]
    assert "GiB" in message and "NVIDIA-L4" in message, message
    assert condition(obj, "Ready")["status"] == "False"
    assert children(cluster, namespace, "huge") == {}

    fixed = with_spec(impossible, gpu={"pools": ["h100"]}, model={**impossible["spec"]["model"], "quantization": "fp8"})
    apply(cluster, namespace, fixed)
    obj = wait_for("huge Ready", lambda: ready(cluster, namespace, "huge"), READY_TIMEOUT)
    assert condition(obj, "Degraded")["status"] == "False"


def _record_ready(apps, namespace, name, lowest: list[int], stop: threading.Event) -> None:
    stream = watch.Watch()
    for event in stream.stream(apps.list_namespaced_deployment, namespace, field_selector=f"metadata.name={name}",
                               timeout_seconds=5):
        lowest.append(event["object"].status.ready_replicas or 0)
        if stop.is_set():
            stream.stop()
    if not stop.is_set():
        _record_ready(apps, namespace, name, lowest, stop)


def _rolled_out(cluster, apps, namespace: str, old_hash: str) -> bool:
    obj = ready(cluster, namespace, "mistral")
    if not obj or condition(obj, "Progressing").get("status") != "False":
        return False
    return pod_template_hash(apps, namespace, "mistral") != old_hash


def _service_uid(core, namespace: str) -> str | None:
    try:
        return core.read_namespaced_service("mistral", namespace).metadata.uid
    except client.ApiException:
        return None


def _settled_write_count(tail: audit.AuditTail, namespace: str, quiet_seconds: float = 5, timeout: float = 60) -> int:
    """The operator's write count once it has not moved for ``quiet_seconds``."""
    deadline = time.monotonic() + timeout
    count, since = len(operator_writes(tail, namespace)), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now_count = len(operator_writes(tail, namespace))
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return count
    raise AssertionError(f"the operator kept writing in {namespace} for {timeout}s")


