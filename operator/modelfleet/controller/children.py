"""Children of an LLMDeployment: server-side applied, owned, and pruned.

One field manager applies every child, with an owner reference to the
LLMDeployment so the garbage collector deletes them with it. A child is
applied only when it drifted from what was rendered (see ``drift``), so a
reconcile of an unchanged world issues no write. Children the spec no longer
renders (say, the pre-pull DaemonSet after a switch from ``nodeLocal`` to
``pvc``) are deleted, if they are ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from modelfleet.render import POD_SPEC_HASH_ANNOTATION, ChildRef, child_refs, ref_of

from .drift import differs
from .kube import FIELD_MANAGER, Kube

# The kinds of child an LLMDeployment may have (names do not matter here).
CHILD_KINDS = sorted({(ref.api_version, ref.kind) for ref in child_refs("any")})


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
    rendered_refs = {ref_of(obj) for obj in rendered}
    for ref in child_refs(owner["metadata"]["name"]):
        if ref not in rendered_refs and _delete_if_owned(kube, ref, owner):
            report.deleted.append(f"{ref.kind}/{ref.name}")
    return report


def _delete_if_owned(kube: Kube, ref: ChildRef, owner: dict[str, Any]) -> bool:
    """Delete a child the spec no longer renders; never touch an object someone else owns."""
    resource = kube.resource(ref.api_version, ref.kind)
    live = _get(resource, ref.name, owner["metadata"]["namespace"])
    owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
    if not any(o.get("uid") == owner["metadata"]["uid"] for o in owners):
        return False
    try:
        resource.delete(name=ref.name, namespace=owner["metadata"]["namespace"], propagation_policy="Background")
    except NotFoundError:
        return False
    return True


def _get(resource: Any, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _pod_template(obj: dict[str, Any]) -> Any:
    """The pod template's hash: it changes exactly when a rollout starts."""
    return (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(
        POD_SPEC_HASH_ANNOTATION
    )


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
