"""Children of an LLMDeployment: server-side applied, owned, and pruned.

One field manager applies every child, with an owner reference to the
LLMDeployment so the garbage collector deletes them with it. A child is
applied only when it drifted from what was rendered (see ``drift``), so a
reconcile of an unchanged world issues no write. Children that carry our
label but are no longer rendered (say, the pre-pull DaemonSet after a switch
from ``nodeLocal`` to ``pvc``) are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from .drift import differs
from .kube import FIELD_MANAGER, Kube

OWNER_LABEL = "modelfleet.io/llmdeployment"
POD_SPEC_HASH = "modelfleet.io/pod-spec-hash"  # the renderer's hash of the pod template

# Every kind the renderer may produce, so pruning finds all of them.
CHILD_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("policy/v1", "PodDisruptionBudget"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "DaemonSet"),
)


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> live object after apply
    rollouts: list[str] = field(default_factory=list)  # workloads whose pod template changed


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    metadata = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": metadata}


def sync_children(kube: Kube, owner: dict[str, Any], rendered: list[dict[str, Any]]) -> ApplyReport:
    """Apply what drifted, delete what is no longer rendered."""
    report = ApplyReport()
    namespace = owner["metadata"]["namespace"]
    wanted = {_key(obj) for obj in rendered}
    for obj in rendered:
        desired = with_owner(obj, owner)
        resource = kube.resource(obj["apiVersion"], obj["kind"])
        live = _get(resource, obj["metadata"]["name"], namespace)
        if differs(desired, live):
            if live is not None and "template" in desired["spec"] and _pod_template(live) != _pod_template(desired):
                report.rollouts.append(_key(obj))
            live = resource.server_side_apply(
                body=desired, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            ).to_dict()
            report.applied.append(_key(obj))
        report.live[_key(obj)] = live
    for key in _owned_children(kube, owner) - wanted:
        kind, name = key.split("/", 1)
        api_version = dict((k, v) for v, k in CHILD_KINDS)[kind]
        try:
            kube.resource(api_version, kind).delete(name=name, namespace=namespace, propagation_policy="Background")
            report.deleted.append(key)
        except NotFoundError:
            pass
    return report


def _owned_children(kube: Kube, owner: dict[str, Any]) -> set[str]:
    uid = owner["metadata"]["uid"]
    selector = f"{OWNER_LABEL}={owner['metadata']['name']}"
    found = set()
    for api_version, kind in CHILD_KINDS:
        items = kube.resource(api_version, kind).get(namespace=owner["metadata"]["namespace"], label_selector=selector)
        for item in items.items:
            refs = item.metadata.ownerReferences or []
            if any(ref.uid == uid for ref in refs):
                found.add(f"{kind}/{item.metadata.name}")
    return found


def _get(resource: Any, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _pod_template(obj: dict[str, Any]) -> Any:
    """The pod template's hash: it changes exactly when a rollout starts."""
    return (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(POD_SPEC_HASH)


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
