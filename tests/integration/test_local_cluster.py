"""The local control plane behaves like a real cluster with GPU node pools:
scheduling honours GPU requests, node selectors and taints; kwok makes pods
Running and Ready; controllers and garbage collection work; every write is
audited; nothing listens beyond loopback."""
from __future__ import annotations

import pytest
from kubernetes import client

import localcluster
from localcluster import audit, node, nodes as node_layout, processes, settings
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

H100 = {"modelfleet.io/pool": "h100"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: kwok runs no containers


def deployment(name: str, gpus: int | None = None, node_selector: dict | None = None,
               tolerations: list | None = None, init_containers: list | None = None) -> dict:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeSelector": node_selector or {},
                    "tolerations": tolerations or [],
                    "initContainers": init_containers or [],
                    "containers": [{"name": "engine", "image": IMAGE, "resources": resources}],
                },
            },
        },
    }


def pods_of(core: client.CoreV1Api, namespace: str, app: str) -> list:
    return core.list_namespaced_pod(namespace, label_selector=f"app={app}").items


def available(apps: client.AppsV1Api, namespace: str, name: str) -> bool:
    return (apps.read_namespaced_deployment_status(name, namespace).status.available_replicas or 0) >= 1


def test_gpu_deployment_is_scheduled_on_h100_and_becomes_ready(cluster, namespace):
    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    apps.create_namespaced_deployment(namespace, deployment("tp2", gpus=2, node_selector=H100,
                                                            tolerations=[GPU_TOLERATION]))
    wait_for("deployment tp2 available", lambda: available(apps, namespace, "tp2"))
    assert apps.read_namespaced_deployment_status("tp2", namespace).status.available_replicas == 1
    [pod] = pods_of(core, namespace, "tp2")
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert pod.status.phase == "Running"
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"


def test_more_gpus_than_any_node_has_stays_pending_unschedulable(cluster, namespace):
    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    apps.create_namespaced_deployment(namespace, deployment("tp9", gpus=9, node_selector=H100,
                                                            tolerations=[GPU_TOLERATION]))

    def unschedulable():
        for pod in pods_of(core, namespace, "tp9"):
            for c in pod.status.conditions or []:
                if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
                    return pod, c
        return None

    pod, condition = wait_for("PodScheduled=False/Unschedulable", unschedulable)
    assert "Insufficient nvidia.com/gpu" in condition.message
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    assert not available(apps, namespace, "tp9")


def test_pod_without_gpu_toleration_never_lands_on_a_gpu_node(cluster, namespace):
    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    body = deployment("plain")
    body["spec"]["replicas"] = 4
    apps.create_namespaced_deployment(namespace, body)
    wait_for("4 plain replicas available",
             lambda: (apps.read_namespaced_deployment_status("plain", namespace).status.available_replicas or 0) == 4)
    for pod in pods_of(core, namespace, "plain"):
        labels = core.read_node(pod.spec.node_name).metadata.labels
        assert labels["modelfleet.io/pool"] == "cpu"
        assert "nvidia.com/gpu.product" not in labels


def test_init_container_and_native_sidecar_are_handled(cluster, namespace):
    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    body = deployment("sidecar", gpus=1, node_selector={"modelfleet.io/pool": "l4"},
                      tolerations=[GPU_TOLERATION], init_containers=[
                          {"name": "prepull", "image": IMAGE},
                          {"name": "warmup", "image": IMAGE, "restartPolicy": "Always"}])
    apps.create_namespaced_deployment(namespace, body)
    wait_for("deployment sidecar available", lambda: available(apps, namespace, "sidecar"))
    [pod] = pods_of(core, namespace, "sidecar")
    init = {s.name: s for s in pod.status.init_container_statuses}
    assert init["prepull"].state.terminated.reason == "Completed"
    assert init["warmup"].state.running and init["warmup"].started and init["warmup"].ready


def test_kubectl_shows_the_gpu_pools(cluster):
    out = cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product", "-L", "modelfleet.io/pool").stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    by_name = {r[0]: r for r in rows}
    assert by_name["h100-0"][1] == "Ready" and by_name["h100-0"][-2:] == ["NVIDIA-H100-80GB-HBM3", "h100"]
    assert by_name["a100-80gb-1"][-2:] == ["NVIDIA-A100-SXM4-80GB", "a100-80gb"]
    assert [r[-2] for r in rows if r[-1] == "l4"] == ["NVIDIA-L4"] * 3
    # the CPU node has no product label: kubectl leaves that column empty
    assert by_name["cpu-0"][-1] == "cpu" and "NVIDIA" not in " ".join(by_name["cpu-0"])


def test_node_capacity_and_taints_follow_the_layout(cluster):
    core = client.CoreV1Api(cluster.api)
    node = core.read_node("h100-1")
    assert node.status.allocatable["nvidia.com/gpu"] == "8"
    assert node.metadata.labels["nvidia.com/gpu.memory"] == "81559"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("nvidia.com/gpu", "present", "NoSchedule")]
    assert not core.read_node("cpu-0").spec.taints


def test_garbage_collection_removes_replicasets_and_pods(cluster, namespace):
    apps, core = client.AppsV1Api(cluster.api), client.CoreV1Api(cluster.api)
    apps.create_namespaced_deployment(namespace, deployment("gc"))
    wait_for("deployment gc available", lambda: available(apps, namespace, "gc"))
    assert apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items
    apps.delete_namespaced_deployment("gc", namespace, propagation_policy="Background")
    wait_for("ReplicaSets and pods of gc gone",
             lambda: not apps.list_namespaced_replica_set(namespace, label_selector="app=gc").items
             and not pods_of(core, namespace, "gc"))


def test_controller_manager_publishes_root_ca_and_service_account_tokens(cluster, namespace):
    core = client.CoreV1Api(cluster.api)
    cm = wait_for("kube-root-ca.crt", lambda: core.list_namespaced_config_map(
        namespace, field_selector="metadata.name=kube-root-ca.crt").items)
    assert "BEGIN CERTIFICATE" in cm[0].data["ca.crt"]
    token = core.create_namespaced_service_account_token(
        "default", namespace, {"spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"]}})
    review = client.AuthenticationV1Api(cluster.api).create_token_review({"spec": {"token": token.status.token}})
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"


def test_audit_log_records_writes_not_reads(cluster, namespace):
    core = client.CoreV1Api(cluster.api)
    tail = audit.AuditTail()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "audited"}})
    core.read_namespaced_config_map("audited", namespace)

    def events():
        return [e for e in tail.poll()
                if (e.get("objectRef") or {}).get("namespace") == namespace
                and (e.get("objectRef") or {}).get("name") == "audited"]

    [event] = wait_for("audit event of the configmap create", events, timeout=10)
    assert (event["verb"], event["level"], event["stage"]) == ("create", "Metadata", "ResponseComplete")
    assert "requestObject" not in event  # Metadata level: no bodies
    core.delete_namespaced_config_map("audited", namespace)
    # the read above was not logged, the delete is
    assert [e["verb"] for e in wait_for("delete event", lambda: len(events()) == 2 and events())] == \
        ["create", "delete"]


def test_node_layout_can_grow_and_shrink(cluster):
    core = client.CoreV1Api(cluster.api)
    layout = node_layout.add_pool(node_layout.scale_pool(cluster.layout, "l4", 1), {
        "name": "h200", "count": 1, "instanceType": "p5e.48xlarge", "cpu": "192", "memory": "2048Gi",
        "gpu": {"product": "NVIDIA-H200", "memoryMiB": 143771, "count": 8}})
    try:
        cluster.sync_nodes(layout)

        def ready(name):
            node = core.read_node(name)
            return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

        wait_for("h200-0 Ready", lambda: ready("h200-0"))
        assert core.read_node("h200-0").status.allocatable["nvidia.com/gpu"] == "8"
        wait_for("l4-1 and l4-2 deleted", lambda: not core.list_node(
            label_selector="modelfleet.io/pool=l4,kubernetes.io/hostname in (l4-1,l4-2)").items)
    finally:
        cluster.sync_nodes(node_layout.load_layout())
    wait_for("l4 pool back to 3 nodes", lambda: len(core.list_node(label_selector="modelfleet.io/pool=l4").items) == 3)
    assert not core.list_node(label_selector="modelfleet.io/pool=h200").items


def test_control_plane_listens_on_loopback_only(cluster):
    """The control plane on loopback; the real node's processes on loopback or on its own bridge
    (the kubelet's API for logs and exec, the forwarder pods reach the API server through)."""
    pids = localcluster.running()
    assert all(pids.values()), pids
    node_processes = set(node.PROCESSES)
    for name, pid in pids.items():
        allowed = ("127.0.0.1", "::1") + ((settings.BRIDGE_IP,) if name in node_processes else ())
        for address, port in processes.listening_addresses(pid):
            assert address in allowed, f"{name} listens on {address}:{port}"
