"""decide, table-tested without a cluster: a snapshot in, the intent out (what to apply, delete, report).

"The API server" here is ``served``: it turns an intent's applied objects
into live ones (our fields plus a status), as the next snapshot would hold
them. What only a real API server can prove (server-side apply, garbage
collection, the watches) stays in tests/integration/test_operator.py.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from modelfleet.api import GPUPool, LLMDeploymentStatus, OperatorSettings
from modelfleet.api.hub_token import SecretsForbidden, TokenReader
from modelfleet.api.status import CONDITION_TYPES
from modelfleet.autoscale.policy import Decision, PolicyState
from modelfleet.catalog import HubUnreachable, load_model_config
from modelfleet.controller.decide import ChildTrouble, Intent, Snapshot, Writes, after_troubles, decide
from modelfleet.controller.decide.autoscale import decide_autoscale
from modelfleet.controller.decide.capacity import Measurement, decide_capacity
from modelfleet.controller.decide.failure import decide_failure
from modelfleet.controller.decide.fields import AUTOSCALER, CAPACITY, CONDITIONS, MANAGERS, RECONCILER, fields_of, owned
from modelfleet.controller.decide.replicas import desired_replicas
from modelfleet.controller.observe import snapshot_of
from modelfleet.sizing import judge_capacity

T0, T1 = "2026-11-30T06:00:00Z", "2026-11-30T06:05:00Z"
MODEL_ID = "mistralai/Mistral-7B-Instruct-v0.3"
MODEL = load_model_config(MODEL_ID)
SETTINGS = OperatorSettings()
H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8, nodes=2)
L4 = GPUPool(name="l4", gpu_product="NVIDIA-L4", gpus_per_node=4, nodes=2)
SPEC = {
    "model": {"id": MODEL_ID},
    "serving": {"maxModelLen": 8192, "maxConcurrency": 8},
    "gpu": {"pools": ["h100"]},
    "cache": {"mode": "none"},
    "replicas": 2,
}


def llmd(spec: dict | None = None, generation: int = 1, status: dict | None = None) -> dict:
    body = {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
            "metadata": {"name": "chat", "namespace": "llm", "uid": "uid-chat", "generation": generation},
            "spec": copy.deepcopy(spec if spec is not None else SPEC)}
    if status is not None:
        body["status"] = status
    return body


def snapshot(body: dict, children: dict | None = None, pools=(H100,), model=MODEL, pods=(),
             token_secret_labels=None) -> Snapshot:
    """What observe hands decide for ``body``: it parsed, and the rest of the cluster as given."""
    return replace(snapshot_of(body, children=children, pods=tuple(pods)), pools=tuple(pools), model=model,
                   token_secret_labels=token_secret_labels)


def served(intent: Intent, before: dict | None = None, ready: int | None = None) -> dict:
    """The children as the API server holds them after ``intent``: applied ones, with a generation and,
    for the Deployment, ``ready`` of its replicas ready (all of them by default)."""
    live = {k: v for k, v in (before or {}).items()
            if k not in {f"{r.kind}/{r.name}" for r in intent.delete}}
    for obj in intent.apply:
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        generation = (live.get(key, {}).get("metadata", {}).get("generation", 0)) + 1
        live[key] = {**copy.deepcopy(obj), "metadata": {**obj["metadata"], "generation": generation}}
    for obj in live.values():
        if obj["kind"] == "Deployment":
            replicas = obj["spec"]["replicas"]
            count = replicas if ready is None else ready
            obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                             "readyReplicas": count, "availableReplicas": count, "updatedReplicas": replicas}
    return live


def status_of(intent: Intent) -> dict:
    return intent.status.to_wire()


def condition(intent: Intent, kind: str) -> tuple[str, str]:
    found = next(c for c in intent.status.conditions if c.type == kind)
    return found.status, found.reason


def kinds(objects) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def converged(spec: dict | None = None) -> tuple[dict, dict]:
    """An LLMDeployment whose children are applied, all replicas ready, and status written."""
    first = decide(snapshot(llmd(spec)), SETTINGS, T0)
    children = served(first)
    # The second pass sees the router pods available and points the Service at them.
    second = decide(snapshot(llmd(spec, status=status_of(first)), children), SETTINGS, T0)
    children = served(second, children)
    status = status_of(second) if second.status is not None else status_of(first)
    return llmd(spec, status=status), children


# Routing is on by default (spec.routing): the router's three objects come with the engines'.
EVERY_CHILD = ["Deployment/chat", "Service/chat-engines", "Deployment/chat-router", "PodDisruptionBudget/chat-router",
               "Service/chat", "PodDisruptionBudget/chat"]


def test_create_applies_every_child_with_an_owner_and_reports_the_plan():
    intent = decide(snapshot(llmd()), SETTINGS, T0)
    assert kinds(intent.apply) == EVERY_CHILD
    # No router pod is available yet: the Service selects the engine pods until one is.
    assert intent.apply[4]["spec"]["selector"]["app.kubernetes.io/component"] == "engine"
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == "uid-chat" for o in intent.apply)
    assert intent.delete == ()
    assert [e.reason for e in intent.events] == ["PlanChosen"]
    assert intent.status.plan.pool == "h100" and intent.status.desired_replicas == 2
    assert condition(intent, "Ready") == ("False", "ReplicasNotReady")
    assert condition(intent, "Degraded") == ("False", "AsExpected")


def test_routing_service_points_the_service_at_the_engines_and_deletes_the_router_then_back():
    body, children = converged()
    plain = {**SPEC, "routing": {"mode": "service"}}
    off = decide(snapshot(llmd(plain, generation=2, status=body["status"]), children), SETTINGS, T1)
    assert kinds(off.apply) == ["Service/chat"]
    assert off.apply[0]["spec"]["selector"]["app.kubernetes.io/component"] == "engine"
    assert sorted(f"{r.kind}/{r.name}" for r in off.delete) == [
        "Deployment/chat-router", "PodDisruptionBudget/chat-router", "Service/chat-engines"]
    assert off.rollouts == ()  # the engine pods stay as they are
    after = served(off, children)
    on = decide(snapshot(llmd(SPEC, generation=3, status=status_of(off)), after), SETTINGS, T1)
    # The router's objects first; the Service stays on the engines until a router pod is available.
    assert kinds(on.apply) == ["Service/chat-engines", "Deployment/chat-router", "PodDisruptionBudget/chat-router"]
    assert on.delete == () and on.rollouts == ()
    starting = served(on, after, ready=0)
    assert decide(snapshot(llmd(SPEC, generation=3, status=status_of(on)), starting), SETTINGS, T1).apply == ()
    available = served(on, after)
    switched = decide(snapshot(llmd(SPEC, generation=3, status=status_of(on)), available), SETTINGS, T1)
    assert kinds(switched.apply) == ["Service/chat"]
    assert switched.apply[0]["spec"]["selector"]["app.kubernetes.io/component"] == "router"


def test_a_router_name_another_llmdeployment_holds_is_a_name_conflict():
    body = llmd()
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat-router", "ownerReferences": [
        {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "name": "chat-router", "uid": "uid-x",
         "controller": True}]}, "spec": {}}
    intent = decide(snapshot(body, {"Deployment/chat-router": other}), SETTINGS, T0)
    assert "Deployment/chat-router" not in kinds(intent.apply)
    assert condition(intent, "Degraded") == ("True", "NameConflict")


def test_an_unchanged_world_writes_nothing():
    body, children = converged()
    intent = decide(snapshot(body, children), SETTINGS, T1)
    assert intent == Intent(plan=intent.plan) and intent.writes == 0
    assert next(c for c in body["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"


def test_a_spec_change_rolls_out_the_deployment_alone():
    body, children = converged()
    changed = {**SPEC, "serving": {"maxModelLen": 4096, "maxConcurrency": 8}}
    intent = decide(snapshot(llmd(changed, generation=2, status=body["status"]), children), SETTINGS, T1)
    assert kinds(intent.apply) == ["Deployment/chat"]
    assert intent.rollouts == ("Deployment/chat",)
    assert [e.reason for e in intent.events] == ["PlanChosen", "RolloutStarted"]
    assert condition(intent, "Progressing") == ("True", "RollingOut")
    assert intent.status.observed_generation == 2


def test_an_autoscaling_only_change_resizes_without_a_rollout():
    spec = {**SPEC, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}
    body, children = converged(spec)
    wider = {**spec, "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 6}}
    intent = decide(snapshot(llmd(wider, generation=2, status=body["status"]), children), SETTINGS, T1)
    # The router pods follow maxReplicas: max(2, ceil(6 / 2.5)) = 3.
    assert kinds(intent.apply) == ["Deployment/chat", "Deployment/chat-router"]
    assert [o["spec"]["replicas"] for o in intent.apply] == [3, 3]
    assert intent.rollouts == () and "RolloutStarted" not in [e.reason for e in intent.events]


def test_the_autoscalers_decision_in_status_sizes_the_deployment():
    spec = {**SPEC, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}
    body, children = converged(spec)
    body["status"]["desiredReplicas"] = 3
    intent = decide(snapshot(body, children), SETTINGS, T1)
    assert kinds(intent.apply) == ["Deployment/chat"] and intent.apply[0]["spec"]["replicas"] == 3


def test_a_pool_gone_is_degraded_and_keeps_what_serves():
    body, children = converged()
    intent = decide(snapshot(body, children, pools=(L4,)), SETTINGS, T1)
    assert intent.apply == () and intent.delete == ()
    status, reason = condition(intent, "Degraded")
    assert status == "True" and reason == "UnknownPool"
    assert condition(intent, "Ready") == ("True", "AllReplicasReady")  # the running replicas still serve
    assert [(e.type, e.reason) for e in intent.events] == [("Warning", "UnknownPool")]


def test_an_impossible_plan_is_degraded_with_numbers_once():
    spec = {**SPEC, "gpu": {"pools": ["l4"], "tensorParallelSize": 1},
            "serving": {"maxModelLen": 32768, "maxConcurrency": 64}}
    first = decide(snapshot(llmd(spec), pools=(L4,)), SETTINGS, T0)
    assert first.apply == ()
    status, reason = condition(first, "Degraded")
    assert status == "True" and reason == "NoPlanFits"
    message = next(c.message for c in first.status.conditions if c.type == "Degraded")
    assert "GiB" in message and "NVIDIA-L4" in message
    again = decide(snapshot(llmd(spec, status=status_of(first)), pools=(L4,)), SETTINGS, T1)
    assert again.writes == 0  # the same problem: no second status write, no second Warning


def test_a_drifted_child_is_applied_again_and_an_untouched_one_is_not():
    body, children = converged()
    drifted = copy.deepcopy(children)
    drifted["Service/chat"]["spec"]["ports"][0]["port"] = 9999
    intent = decide(snapshot(body, drifted), SETTINGS, T1)
    assert kinds(intent.apply) == ["Service/chat"]
    assert intent.rollouts == ()


def test_a_deleted_child_is_created_again():
    body, children = converged()
    del children["PodDisruptionBudget/chat"]
    assert kinds(decide(snapshot(body, children), SETTINGS, T1).apply) == ["PodDisruptionBudget/chat"]


def test_a_child_no_longer_rendered_is_deleted_only_if_ours():
    spec = {**SPEC, "cache": {"mode": "pvc", "size": "100Gi", "storageClassName": "rwx"}}
    body, children = converged(spec)
    assert "PersistentVolumeClaim/chat-cache" in children
    intent = decide(snapshot(llmd(SPEC, generation=2, status=body["status"]), children), SETTINGS, T1)
    assert [f"{r.kind}/{r.name}" for r in intent.delete] == ["PersistentVolumeClaim/chat-cache"]
    assert "ChildDeleted" in [e.reason for e in intent.events]
    foreign = copy.deepcopy(children)
    foreign["PersistentVolumeClaim/chat-cache"]["metadata"]["ownerReferences"] = [{"uid": "someone-else"}]
    assert decide(snapshot(llmd(SPEC, generation=2, status=body["status"]), foreign), SETTINGS, T1).delete == ()


def test_a_model_the_hub_cannot_give_is_degraded_and_creates_nothing():
    intent = decide(snapshot(llmd(), model=HubUnreachable("huggingface.co did not answer; check the network")),
                    SETTINGS, T0)
    assert intent.apply == ()
    assert condition(intent, "Degraded") == ("True", "HubUnreachable")


@pytest.mark.parametrize("spec", [
    {**SPEC, "replicas": -1},
    {**SPEC, "engine": {"kind": "triton"}},
])
def test_an_invalid_spec_is_degraded_with_the_field_named(spec):
    intent = decide(snapshot(llmd(spec)), SETTINGS, T0)
    assert intent.apply == ()
    status, reason = condition(intent, "Degraded")
    assert (status, reason) == ("True", "InvalidSpec")


def test_ready_follows_the_deployment():
    first = decide(snapshot(llmd()), SETTINGS, T0)
    half = served(first, ready=1)
    intent = decide(snapshot(llmd(status=status_of(first)), half), SETTINGS, T0)
    assert condition(intent, "Ready") == ("False", "ReplicasNotReady")
    assert intent.status.ready_replicas == 1
    assert kinds(intent.apply) == ["Service/chat"]  # a router pod is available too: the Service selects it now


def unschedulable_pod(name: str) -> dict:
    return {"metadata": {"name": name}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}


def test_pods_the_scheduler_cannot_place_are_degraded_in_its_words():
    first = decide(snapshot(llmd()), SETTINGS, T0)
    children = served(first, ready=0)
    intent = decide(snapshot(llmd(status=status_of(first)), children, pods=(unschedulable_pod("chat-1"),)), SETTINGS,
                    T0)
    status, reason = condition(intent, "Degraded")
    assert (status, reason) == ("True", "Unschedulable")
    message = next(c.message for c in intent.status.conditions if c.type == "Degraded")
    assert "3 Insufficient nvidia.com/gpu" in message and "pool h100" in message
    assert [(e.type, e.reason) for e in intent.events] == [("Warning", "Unschedulable")]


def test_a_rollout_whose_new_pods_cannot_be_placed_is_blocked():
    body, children = converged()
    deployment = children["Deployment/chat"]
    deployment["status"] = {**deployment["status"], "updatedReplicas": 1, "readyReplicas": 2}
    intent = decide(snapshot(body, children, pods=(unschedulable_pod("chat-new"),)), SETTINGS, T1)
    assert condition(intent, "Degraded") == ("True", "RolloutBlocked")
    assert condition(intent, "Ready") == ("True", "AllReplicasReady")  # the old replicas still serve


def test_an_unplaceable_pod_waits_while_the_fleets_own_pods_terminate_then_is_blocked():
    """A scale-down's draining pod still holds its GPU, CPU and memory for the scheduler: a rollout right after
    it waits for that pod (Progressing, not Degraded); once no pod of the fleet is terminating, it is blocked."""
    body, children = converged()
    deployment = children["Deployment/chat"]
    deployment["status"] = {**deployment["status"], "updatedReplicas": 1, "readyReplicas": 2}
    draining = {"metadata": {"name": "chat-old", "deletionTimestamp": "2026-12-06T00:00:00Z"},
                "status": {"phase": "Running"}}
    intent = decide(snapshot(body, children, pods=(unschedulable_pod("chat-new"), draining)), SETTINGS, T1)
    assert condition(intent, "Progressing") == ("True", "WaitingForTerminatingPods")
    assert condition(intent, "Degraded") == ("False", "AsExpected") and not intent.events
    message = next(c.message for c in intent.status.conditions if c.type == "Progressing")
    assert "chat-old" in message and "3 Insufficient nvidia.com/gpu" in message
    intent = decide(snapshot(body, children, pods=(unschedulable_pod("chat-new"),)), SETTINGS, T1)
    assert condition(intent, "Degraded") == ("True", "RolloutBlocked")


def crash_looping_router(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/component": "router"}}, "status": {
        "phase": "Running", "containerStatuses": [{
            "name": "router", "ready": False, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed"}},
            "lastState": {"terminated": {"exitCode": 2, "reason": "Error", "message": "unknown flag --foo"}}}]}}


@pytest.mark.parametrize("available", [0, 1])
def test_router_pods_that_crash_are_degraded_in_the_kubelets_words_and_the_engines_still_serve(available):
    body, children = converged()
    router = children["Deployment/chat-router"]
    router["status"] = {**router["status"], "availableReplicas": available, "readyReplicas": available}
    routers = (crash_looping_router("chat-router-a"),)
    intent = decide(replace(snapshot(body, children), routers=routers), SETTINGS, T1)
    assert condition(intent, "Degraded") == ("True", "RouterFailing")
    assert condition(intent, "Ready") == ("True", "AllReplicasReady")
    message = next(c.message for c in intent.status.conditions if c.type == "Degraded")
    assert "chat-router-a: CrashLoopBackOff (last exit 2: unknown flag --foo)" in message
    assert ("straight to the engine pods" in message) == (available == 0)
    assert [(e.type, e.reason) for e in intent.events] == [("Warning", "RouterFailing")]
    # Said once: the same trouble on the next pass is no new Warning.
    again = decide(replace(snapshot(llmd(status=status_of(intent)), children), routers=routers), SETTINGS, T1)
    assert not [e for e in again.events if e.type == "Warning"]
    # A rollout that waits for a terminating pod meanwhile (transient) does not hide the router's Warning.
    waiting = (unschedulable_pod("chat-new"), {"metadata": {"name": "chat-old", "deletionTimestamp": "x"}})
    both = decide(replace(snapshot(body, children, pods=waiting), routers=routers), SETTINGS, T1)
    assert condition(both, "Progressing") == ("True", "WaitingForTerminatingPods")
    assert [(e.type, e.reason) for e in both.events] == [("Warning", "RouterFailing")]
    # With routing.mode service the router is gone on purpose: its leftover pods say nothing.
    plain = converged({**SPEC, "routing": {"mode": "service"}})
    quiet = decide(replace(snapshot(*plain), routers=routers), SETTINGS, T1)
    assert quiet.status is None and not quiet.events  # nothing changed: Degraded stays False


def test_a_labelled_object_this_llmdeployment_does_not_own_is_a_name_conflict_not_adopted():
    body, children = converged()
    foreign = copy.deepcopy(children)
    foreign["Service/chat"]["metadata"]["ownerReferences"] = [{"kind": "LLMDeployment", "name": "chat",
                                                               "uid": "an-older-chat"}]
    foreign["Service/chat"]["spec"]["ports"][0]["port"] = 1234
    intent = decide(snapshot(body, foreign), SETTINGS, T1)
    assert "Service/chat" not in kinds(intent.apply)
    status, reason = condition(intent, "Degraded")
    assert (status, reason) == ("True", "NameConflict")
    assert "LLMDeployment/chat" in next(c.message for c in intent.status.conditions if c.type == "Degraded")


def test_children_act_could_not_apply_turn_the_status_degraded_with_the_api_servers_words():
    body = llmd()
    intent = decide(snapshot(body), SETTINGS, T0)
    assert intent.creates == set(EVERY_CHILD)
    refused = ChildTrouble("Deployment/chat", "ChildRefused",
                           "The API server refused Deployment/chat: spec.template.spec.nodeSelector: Invalid value")
    after = after_troubles(snapshot(body), intent, [refused], T0)
    assert condition(after, "Degraded") == ("True", "ChildRefused")
    assert ("Warning", "ChildRefused") in [(e.type, e.reason) for e in after.events]
    assert "nodeSelector" in next(c.message for c in after.status.conditions if c.type == "Degraded")
    assert after_troubles(snapshot(body), intent, [], T0) is intent


def test_a_listed_pool_without_nodes_moves_the_plan_to_the_next_listed_one_and_back():
    spec = {**SPEC, "gpu": {"pools": ["a100", "h100"]}}
    a100 = GPUPool(name="a100", gpu_product="NVIDIA-A100-SXM4-80GB", gpus_per_node=8, nodes=2)
    first = decide(snapshot(llmd(spec), pools=(a100, H100)), SETTINGS, T0)
    assert first.plan.pool == "a100"
    body = llmd(spec, status=status_of(first))
    moved = decide(snapshot(body, served(first), pools=(H100,)), SETTINGS, T1)
    assert moved.plan.pool == "h100" and "Deployment/chat" in kinds(moved.apply)
    assert "PoolChanged" in [e.reason for e in moved.events]
    assert condition(moved, "Degraded") == ("False", "AsExpected")
    back = decide(snapshot(llmd(spec, status=status_of(moved)), served(moved, served(first)), pools=(a100, H100)),
                  SETTINGS, T1)
    assert back.plan.pool == "a100"
    none = decide(snapshot(body, pools=(L4,)), SETTINGS, T1)
    assert condition(none, "Degraded")[1] == "UnknownPool"


def test_a_hand_added_container_is_pruned_in_one_patch_and_not_applied_over_and_over():
    body, children = converged()
    edited = copy.deepcopy(children)
    deployment = edited["Deployment/chat"]
    deployment["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "theirs"})
    deployment["metadata"]["resourceVersion"] = "9"
    deployment["metadata"]["managedFields"] = [{"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}}}}}}}}]
    intent = decide(snapshot(body, edited), SETTINGS, T1)
    assert [(p.kind, p.name) for p in intent.prune] == [("Deployment", "chat")]
    assert intent.prune[0].ops[-1] == {"op": "remove", "path": "/spec/template/spec/containers/1"}
    assert intent.prune[0].ops[0]["op"] == "test"
    assert intent.apply == ()  # once pruned, nothing else drifted: one write in all


@pytest.mark.parametrize("labels,reason", [
    (None, "TokenSecretNotFound"),
    ({"team": "other"}, "TokenSecretNotAllowed"),
    (SecretsForbidden(TokenReader()), "TokenSecretForbidden"),
    ({"modelfleet.io/hub-token": "true"}, None),
])
def test_a_token_secret_must_exist_and_opt_in_before_any_pod_mounts_it(labels, reason):
    spec = copy.deepcopy(SPEC)
    spec["model"] = {**spec["model"], "tokenSecretRef": {"name": "hf"}}
    intent = decide(snapshot(llmd(spec), token_secret_labels=labels), SETTINGS, T0)
    if reason is None:
        assert kinds(intent.apply) == EVERY_CHILD
    else:
        assert intent.apply == () and condition(intent, "Degraded") == ("True", reason)
        assert "Secret hf" in next(c.message for c in intent.status.conditions if c.type == "Degraded")


def test_a_token_secret_the_operator_may_not_read_names_the_rolebinding_that_allows_it():
    spec = copy.deepcopy(SPEC)
    spec["model"] = {**spec["model"], "tokenSecretRef": {"name": "hf"}}
    reader = TokenReader(cluster_role="ai-hub-token-reader", service_account="platform:ai-modelfleet")
    intent = decide(snapshot(llmd(spec), token_secret_labels=SecretsForbidden(reader)), SETTINGS, T0)
    message = next(c.message for c in intent.status.conditions if c.type == "Degraded")
    assert intent.apply == () and "may not read Secrets in namespace llm" in message
    assert message.endswith("kubectl create rolebinding modelfleet-hub-token-reader -n llm "
                            "--clusterrole=ai-hub-token-reader --serviceaccount=platform:ai-modelfleet")


def test_a_cache_too_small_for_the_weights_creates_nothing_and_says_the_size_needed():
    spec = {**SPEC, "cache": {"mode": "pvc", "size": "2Gi"}}
    intent = decide(snapshot(llmd(spec)), SETTINGS, T0)
    assert intent.apply == () and condition(intent, "Degraded") == ("True", "CacheTooSmall")
    assert "give it at least" in next(c.message for c in intent.status.conditions if c.type == "Degraded")


def test_replace_in_place_is_the_documented_way_out_of_a_full_pool():
    spec = {**SPEC, "rollout": {"replaceInPlace": True}}
    intent = decide(snapshot(llmd(spec)), SETTINGS, T0)
    strategy = next(o for o in intent.apply if o["kind"] == "Deployment")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    default = next(o for o in decide(snapshot(llmd()), SETTINGS, T0).apply if o["kind"] == "Deployment")
    assert default["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


# One field manager per writer: each sends its own status fields, all of them, and no other's. The API server
# merges what the three apply (conditions by type) and removes a field its only manager leaves out: proven on a
# real API server (tests/integration); the requests themselves against a scripted one (test_controller_writes.py).

AUTOSCALED = {**SPEC, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}


def decision(replicas: int, previous: int, queue: float | None = 1.5) -> Decision:
    return Decision(replicas=replicas, previous=previous, recommendation=replicas, queue_depth=queue,
                    reason="ScaledUp" if replicas > previous else "Steady", message=f"{previous} -> {replicas}",
                    state=PolicyState())


def managers_of(writes) -> list[str]:
    return [w.manager for w in writes]


@pytest.mark.parametrize("autoscaled", [False, True])
def test_every_status_field_and_condition_has_exactly_one_writer(autoscaled):
    fields = [name for manager in MANAGERS for name in fields_of(manager, autoscaled)]
    assert sorted(fields) == sorted(LLMDeploymentStatus.model_fields.keys() - {"conditions"})
    assert sorted(t for manager in MANAGERS for t in CONDITIONS[manager]) == sorted(CONDITION_TYPES)
    replicas_writer = [m for m in MANAGERS if "desired_replicas" in fields_of(m, autoscaled)]
    assert replicas_writer == [AUTOSCALER if autoscaled else RECONCILER]


@pytest.mark.parametrize("autoscaled", [False, True])
def test_the_writers_parts_make_the_whole_status(autoscaled):
    body, _ = converged(AUTOSCALED if autoscaled else SPEC)
    whole = snapshot({**body, "status": {**body["status"], "queueDepth": 1.5, "desiredReplicas": 1}}).status
    parts = [owned(whole, manager, autoscaled).to_wire() for manager in MANAGERS]
    merged = {k: v for part in parts for k, v in part.items() if k != "conditions"}
    assert merged == {k: v for k, v in whole.to_wire().items() if k != "conditions"}
    assert sorted(c["type"] for part in parts for c in part.get("conditions", [])) == sorted(
        c.type for c in whole.conditions)


def test_the_reconcile_sends_its_own_fields_only():
    intent = decide(snapshot(llmd(AUTOSCALED)), SETTINGS, T0)
    (write,) = intent.status_writes
    assert write.manager == RECONCILER
    sent = write.body()
    assert set(sent) == {"observedGeneration", "conditions", "health", "reason", "plan", "cacheMode", "replicas",
                         "readyReplicas", "selector", "endpoint"}  # desiredReplicas is the autoscaler's while it is on
    assert [c["type"] for c in sent["conditions"]] == ["Ready", "Progressing", "Degraded"]
    assert intent.apply[0]["spec"]["replicas"] == 1  # minReplicas until the autoscaler decides


def test_without_autoscaling_the_reconcile_writes_desired_replicas():
    intent = decide(snapshot(llmd()), SETTINGS, T0)
    assert intent.status_writes[0].body()["desiredReplicas"] == 2


def test_a_decision_writes_the_autoscalers_fields_only_and_an_event_when_it_scales():
    body, children = converged(AUTOSCALED)
    writes = decide_autoscale(snapshot(body, children), decision(3, 1), T1)
    (write,) = writes.status
    assert (write.manager, write.body()) == (AUTOSCALER, {"desiredReplicas": 3, "queueDepth": 1.5,
                                                          "lastScaleTime": T1})
    assert [(e.type, e.reason) for e in writes.events] == [("Normal", "ScaledUp")]


def test_a_decision_that_changes_nothing_writes_nothing():
    body, children = converged(AUTOSCALED)
    body["status"] |= {"desiredReplicas": 1, "queueDepth": 1.5}
    assert decide_autoscale(snapshot(body, children), decision(1, 1), T1).status == ()


def test_a_decision_after_autoscaling_was_turned_off_writes_nothing():
    body, children = converged()
    assert decide_autoscale(snapshot(body, children), decision(3, 1), T1) == Writes()


def test_the_autoscalers_decision_resizes_the_deployment_in_the_same_pass():
    body, children = converged(AUTOSCALED)
    writes = decide_autoscale(snapshot(body, children), decision(3, 1), T1)
    body["status"] |= writes.status[0].body()  # as the API server merges it
    intent = decide(snapshot(body, children), SETTINGS, T1)
    assert [o["spec"]["replicas"] for o in intent.apply if o["kind"] == "Deployment"] == [3]
    assert all(w.manager == RECONCILER for w in intent.status_writes)


def test_turning_autoscaling_on_keeps_the_size_until_the_autoscaler_decides():
    body, children = converged({**SPEC, "replicas": 3})
    on = {**AUTOSCALED, "replicas": 3}
    first = decide(snapshot(llmd(on, generation=2, status=body["status"]), children), SETTINGS, T1)
    assert "desiredReplicas" not in first.status_writes[0].body()  # the stored one goes with the reconcile's apply
    stored = {k: v for k, v in status_of(first).items() if k != "desiredReplicas"}
    again = decide(snapshot(llmd(on, generation=2, status=stored), served(first, children)), SETTINGS, T1)
    assert not [o for o in again.apply if o["kind"] == "Deployment"]  # still 3: no scale-down to minReplicas
    assert desired_replicas(snapshot(llmd(on)).resource.spec, None, children["Deployment/chat"]) == 3


def test_a_verdict_writes_the_capacity_fields_only():
    body, children = converged()
    s = snapshot(body, children)
    plan = s.status.plan
    verdict = judge_capacity(s.resource.spec, plan, 4 * 8192, "chat-0")
    writes = decide_capacity(s, Measurement(verdict, 1, plan), T1)
    (write,) = writes.status
    assert write.manager == CAPACITY
    assert set(write.body()) == {"kvCapacity", "conditions"}
    assert [c["type"] for c in write.body()["conditions"]] == ["KVCacheSufficient"]
    assert [(e.type, e.reason) for e in writes.events] == [("Warning", "KVCacheTooSmall")]
    assert decide_capacity(s, Measurement(verdict, 2, plan), T1).status == ()  # the spec moved since: nothing


def test_a_new_plan_removes_the_capacity_writers_fields_by_its_own_manager():
    body, children = converged()
    s = snapshot(body, children)
    verdict = judge_capacity(s.resource.spec, s.status.plan, 4 * 8192, "chat-0")
    sent = decide_capacity(s, Measurement(verdict, 1, s.status.plan), T1).status[0].body()
    body["status"] |= {"kvCapacity": sent["kvCapacity"],  # as the API server merges it
                       "conditions": body["status"]["conditions"] + sent["conditions"]}
    same = decide(snapshot(body, children), SETTINGS, T1)
    assert same == Intent(plan=same.plan)  # the measurement stands with its plan
    replanned = {**SPEC, "serving": {"maxModelLen": 4096, "maxConcurrency": 8}}
    intent = decide(snapshot(llmd(replanned, generation=2, status=body["status"]), children), SETTINGS, T1)
    assert managers_of(intent.status_writes) == [RECONCILER, CAPACITY]
    assert intent.status_writes[1].body() == {}  # an empty apply: the capacity manager's fields are removed
    assert "kvCapacity" not in intent.status_writes[0].body()  # the reconcile never sends them


def test_a_failure_is_the_reconcilers_degraded_once():
    body, children = converged()
    s = snapshot(body, children)
    writes = decide_failure(s, ValueError("a bug"), 0.5, T1)
    (write,) = writes.status
    assert write.manager == RECONCILER
    degraded = next(c for c in write.body()["conditions"] if c["type"] == "Degraded")
    assert (degraded["reason"], degraded["status"]) == ("ReconcileFailed", "True")
    assert "ValueError: a bug" in degraded["message"] and "retries in 0.5 s" in degraded["message"]
    assert [(e.type, e.reason) for e in writes.events] == [("Warning", "ReconcileFailed")]
    body["status"] |= {"conditions": write.body()["conditions"]}
    assert decide_failure(snapshot(body, children), ValueError("a bug"), 1.0, T1).status == ()  # said once


def test_children_of_a_deleted_llmdeployment_of_the_same_name_are_waited_for_without_a_warning():
    """Delete and re-create: the garbage collector is still removing the first one's children, which hold the
    names for a second. That passes by itself, so it is Progressing, not Degraded, and posts no Warning."""
    body, children = converged()
    predecessor = copy.deepcopy(children)
    for child in predecessor.values():
        child["metadata"]["ownerReferences"] = [{"kind": "LLMDeployment", "name": "chat", "uid": "the-deleted-chat",
                                                 "controller": True}]
    intent = decide(snapshot(body, predecessor), SETTINGS, T1)
    assert "Service/chat" not in kinds(intent.apply)  # still never adopted
    assert condition(intent, "Degraded") == ("False", "AsExpected")
    assert condition(intent, "Progressing") == ("True", "PredecessorDeleting")
    assert (intent.status.health, intent.status.reason) == ("Progressing", "PredecessorDeleting")
    assert not [e for e in intent.events if e.type == "Warning"]


def test_a_lasting_conflict_beside_a_predecessors_child_is_still_a_warning():
    body, children = converged()
    mixed = copy.deepcopy(children)
    mixed["Service/chat"]["metadata"]["ownerReferences"] = [{"kind": "LLMDeployment", "name": "chat",
                                                             "uid": "the-deleted-chat", "controller": True}]
    mixed["Deployment/chat"]["metadata"]["ownerReferences"] = [{"kind": "Helm", "name": "x", "controller": True}]
    intent = decide(snapshot(body, mixed), SETTINGS, T1)
    assert condition(intent, "Degraded") == ("True", "NameConflict")
    assert [e.reason for e in intent.events if e.type == "Warning"] == ["NameConflict"]
