"""A bad day on a real API server: names someone else holds, children the API server refuses, pods that
cannot be scheduled, a namespace whose quota refuses everything, pools whose nodes go, and an operator
told to watch one namespace. Nothing may be silent: each case is refused with the field named, or
``Degraded`` with a message that says what to change, or served as documented.
"""

from __future__ import annotations

import json

import pytest
import yaml

from localcluster import cluster as local, nodes as node_layout
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane


def kubectl(cluster, *args, **kwargs):
    return cluster.kubectl(*args, **kwargs)


def apply(cluster, namespace: str, document: dict) -> None:
    kubectl(cluster, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def get(cluster, namespace: str, what: str) -> dict | None:
    done = kubectl(cluster, "get", what, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def degraded(cluster, namespace: str, name: str, reason: str) -> dict | None:
    obj = get(cluster, namespace, f"llmd/{name}") or {}
    found = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == "Degraded"), {})
    return found if (found.get("status"), found.get("reason")) == ("True", reason) else None


def warning_events(cluster, namespace: str, name: str, reason: str) -> list[dict]:
    items = json.loads(kubectl(cluster, "get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e for e in items if e["involvedObject"]["name"] == name and e["reason"] == reason]


def with_spec(name: str, **spec) -> dict:
    document = small_mistral(name, replicas=1)
    document["spec"].update(spec)
    return document


@pytest.mark.parametrize("kind,manifest,spec", [
    ("PersistentVolumeClaim", {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-cache"},
                               "spec": {"accessModes": ["ReadWriteOnce"],
                                        "resources": {"requests": {"storage": "1Gi"}}}},
     {"cache": {"mode": "pvc", "size": "100Gi"}}),
    ("Service", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "data"},
                 "spec": {"selector": {"app": "theirs"}, "ports": [{"port": 80}]}}, {}),
    ("Deployment", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "data"},
                    "spec": {"selector": {"matchLabels": {"app": "theirs"}}, "replicas": 0,
                             "template": {"metadata": {"labels": {"app": "theirs"}},
                                          "spec": {"containers": [{"name": "c", "image": "theirs"}]}}}}, {}),
])
def test_a_name_someone_else_holds_is_never_adopted(cluster, namespace, operator, kind, manifest, spec):
    apply(cluster, namespace, manifest)
    before = get(cluster, namespace, f"{kind.lower()}/{manifest['metadata']['name']}")
    apply(cluster, namespace, with_spec("data", **spec))
    condition = wait_for("Degraded NameConflict", lambda: degraded(cluster, namespace, "data", "NameConflict"), 30)
    assert f"{kind}/{manifest['metadata']['name']}" in condition["message"], condition
    after = get(cluster, namespace, f"{kind.lower()}/{manifest['metadata']['name']}")
    assert after["metadata"].get("ownerReferences") is None  # not taken over
    assert after["spec"] == before["spec"]
    assert warning_events(cluster, namespace, "data", "NameConflict")
    kubectl(cluster, "delete", "llmd", "data", "-n", namespace, "--wait=true")
    assert get(cluster, namespace, f"{kind.lower()}/{manifest['metadata']['name']}") is not None  # still there


def test_a_child_the_api_server_refuses_is_degraded_with_its_words(cluster, namespace, operator):
    apply(cluster, namespace, with_spec("refused", placement={"nodeSelector": {"bad key/with/slashes": "x"}}))
    condition = wait_for("Degraded ChildRefused", lambda: degraded(cluster, namespace, "refused", "ChildRefused"), 30)
    assert "Deployment/refused" in condition["message"] and "nodeSelector" in condition["message"], condition
    assert warning_events(cluster, namespace, "refused", "ChildRefused")


def test_pods_that_cannot_be_scheduled_say_why(cluster, namespace, operator):
    apply(cluster, namespace, with_spec("nowhere", placement={"nodeSelector": {"topology.kubernetes.io/zone": "mars"}}))
    condition = wait_for("Degraded Unschedulable", lambda: degraded(cluster, namespace, "nowhere", "Unschedulable"),
                         60)
    assert "node(s) didn't match" in condition["message"] and "pool h100" in condition["message"], condition


def test_a_poison_object_says_so_and_the_others_are_planned_on_time(cluster, namespace, operator):
    """A namespace whose quota refuses every Deployment beside a namespace where a new pool appears."""
    poisoned = f"{namespace}-quota"
    kubectl(cluster, "create", "namespace", poisoned)
    try:
        kubectl(cluster, "create", "quota", "none", "-n", poisoned, "--hard=count/deployments.apps=0")
        apply(cluster, poisoned, with_spec("poison"))
        apply(cluster, namespace, with_spec("waiting", gpu={"pools": ["fresh"]}))
        wait_for("waiting: UnknownPool", lambda: degraded(cluster, namespace, "waiting", "UnknownPool"), 30)
        condition = wait_for("poison: ChildRefused",
                             lambda: degraded(cluster, poisoned, "poison", "ChildRefused"), 30)
        assert "quota" in condition["message"], condition
        layout = node_layout.load_layout()
        fresh = node_layout.scale_pool(layout, "h100", 2)
        fresh["pools"].append({**node_layout.pool(layout, "h100"), "name": "fresh", "count": 1})
        node_layout.sync(fresh)
        try:
            wait_for("waiting planned on the new pool",
                     lambda: ((get(cluster, namespace, "llmd/waiting") or {}).get("status") or {}).get(
                         "plan", {}).get("pool") == "fresh", 15)
        finally:
            node_layout.sync(layout)
            local.restart_kwok()
    finally:
        kubectl(cluster, "delete", "namespace", poisoned, "--wait=false")


def test_a_pool_whose_nodes_go_moves_to_the_next_listed_and_back(cluster, namespace, operator):
    apply(cluster, namespace, with_spec("mover", gpu={"pools": ["a100-80gb", "h100"]}))
    def plan_pool():
        return ((get(cluster, namespace, "llmd/mover") or {}).get("status") or {}).get("plan", {}).get("pool")
    wait_for("planned on a100-80gb", lambda: plan_pool() == "a100-80gb", 30)
    layout = node_layout.load_layout()
    node_layout.sync(node_layout.scale_pool(layout, "a100-80gb", 0))
    try:
        wait_for("moved to h100", lambda: plan_pool() == "h100", 15)
        deployment = get(cluster, namespace, "deployment/mover")
        assert deployment["spec"]["template"]["spec"]["nodeSelector"]["modelfleet.io/pool"] == "h100"
        events = json.loads(kubectl(cluster, "get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        assert any(e["reason"] == "PoolChanged" and "a100-80gb has no nodes" in e["message"] for e in events)
    finally:
        node_layout.sync(layout)
        local.restart_kwok()  # the a100 nodes come back under their old names
    wait_for("back on a100-80gb", lambda: plan_pool() == "a100-80gb", 15)


def test_hand_additions_to_a_child_are_removed_in_one_write(cluster, namespace, operator):
    from localcluster import audit

    apply(cluster, namespace, with_spec("owned"))
    wait_for("the Deployment", lambda: get(cluster, namespace, "deployment/owned"), 30)
    tail = audit.AuditTail()
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "theirs"},
        {"name": "engine", "env": [{"name": "SNEAKY", "value": "x"}]}]}}}}
    kubectl(cluster, "patch", "deployment", "owned", "-n", namespace, "--type=strategic", "-p", json.dumps(patch))

    def clean() -> bool:
        spec = get(cluster, namespace, "deployment/owned")["spec"]["template"]["spec"]
        engine = next(c for c in spec["containers"] if c["name"] == "engine")
        return [c["name"] for c in spec["containers"]] == ["engine"] and not any(
            e["name"] == "SNEAKY" for e in engine.get("env", []))
    wait_for("the hand additions removed", clean, 30)
    reconciles = operator.reconciles()
    wait_for("three more reconciles", lambda: operator.reconciles() >= reconciles + 3, 30)
    writes = [e for e in tail.poll() if e.get("stage") == "ResponseComplete" and e["verb"] in ("patch", "update")
              and (e.get("objectRef") or {}).get("resource") == "deployments"
              and (e.get("objectRef") or {}).get("name") == "owned"
              and e["user"]["username"] == "system:serviceaccount:modelfleet-system:modelfleet"
              and (e.get("responseStatus") or {}).get("code", 200) < 400]  # a refused attempt writes nothing
    assert len(writes) == 1, [(e["verb"], e["user"]["username"]) for e in writes]



def test_a_rollout_on_a_full_pool_is_blocked_and_replacing_in_place_completes_it(cluster, namespace, operator):
    """Pool l4: 3 nodes of 1 GPU. Three replicas fill it, so a new replica has nowhere to go."""
    apps_ready = lambda: (get(cluster, namespace, "deployment/full") or {}).get("status", {}).get(  # noqa: E731
        "readyReplicas", 0)
    document = with_spec("full", gpu={"pools": ["l4"]}, replicas=3)
    apply(cluster, namespace, document)
    wait_for("three replicas ready", lambda: apps_ready() == 3, 90)
    document["spec"]["serving"] = {"maxModelLen": 2048, "maxConcurrency": 4}
    apply(cluster, namespace, document)
    condition = wait_for("RolloutBlocked", lambda: degraded(cluster, namespace, "full", "RolloutBlocked"), 60)
    assert "replaceInPlace" in condition["message"] and "pool l4" in condition["message"], condition

    document["spec"]["rollout"] = {"replaceInPlace": True}
    apply(cluster, namespace, document)
    fewest = 3

    def rolled_out() -> bool:
        nonlocal fewest
        deployment = get(cluster, namespace, "deployment/full")
        status = deployment.get("status", {})
        fewest = min(fewest, status.get("readyReplicas", 0))
        return (status.get("updatedReplicas") == 3 and status.get("readyReplicas") == 3
                and status.get("observedGeneration") == deployment["metadata"]["generation"]
                and status.get("replicas") == 3)
    wait_for("the in-place rollout", rolled_out, 180, 0.5)
    assert fewest >= 2, f"{3 - fewest} replicas were down at once"
    wait_for("not degraded", lambda: degraded(cluster, namespace, "full", "RolloutBlocked") is None, 30)


def test_re_creating_an_llmdeployment_of_the_same_name_waits_for_the_old_children_without_a_warning(
        cluster, namespace, operator):
    """Delete, then apply the same name at once: the garbage collector still holds the old children's names
    (here a finalizer keeps the old Deployment for as long as the test needs). That is no conflict to warn of."""
    apply(cluster, namespace, with_spec("again"))
    wait_for("the first Deployment", lambda: get(cluster, namespace, "deployment/again"), 30)
    hold = {"metadata": {"finalizers": ["modelfleet.io/test-hold"]}}
    kubectl(cluster, "patch", "deployment", "again", "-n", namespace, "--type=merge", "-p", json.dumps(hold))
    kubectl(cluster, "delete", "llmd", "again", "-n", namespace, "--wait=true")
    apply(cluster, namespace, with_spec("again"))

    def waiting() -> dict | None:
        found = next((c for c in ((get(cluster, namespace, "llmd/again") or {}).get("status") or {}).get(
            "conditions", []) if c["type"] == "Progressing"), {})
        return found if found.get("reason") == "PredecessorDeleting" else None
    condition = wait_for("Progressing PredecessorDeleting", waiting, 30)
    assert condition["status"] == "True" and "Deployment/again" in condition["message"], condition
    assert degraded(cluster, namespace, "again", "NameConflict") is None
    kubectl(cluster, "patch", "deployment", "again", "-n", namespace, "--type=merge",
            "-p", json.dumps({"metadata": {"finalizers": None}}))

    def own_deployment() -> bool:
        deployment = get(cluster, namespace, "deployment/again") or {}
        llmd = get(cluster, namespace, "llmd/again") or {}
        owners = deployment.get("metadata", {}).get("ownerReferences") or [{}]
        return owners[0].get("uid") == llmd.get("metadata", {}).get("uid")
    wait_for("the new LLMDeployment's own Deployment", own_deployment, 60)
    assert not warning_events(cluster, namespace, "again", "NameConflict")
    assert not warning_events(cluster, namespace, "again", "PredecessorDeleting")
