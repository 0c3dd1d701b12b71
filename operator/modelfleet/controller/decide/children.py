"""Children planning (pure): which rendered children to apply, which live ones to delete or prune.

A child is applied only when it is missing or drifted (``drift``): a no-op
server-side apply is still a write. What another field manager added to a
child's spec is pruned with one guarded JSON patch first (``takeback``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.render import POD_SPEC_HASH_ANNOTATION, ChildRef, child_refs

from .drift import differs
from .fields import RECONCILER
from .intent import ChildTrouble, Prune, Refusal
from .ownership import held_trouble, owned_by, with_owner
from .snapshot import Ref
from .takeback import foreign_additions, removal_patch, without

# Children whose spec the API server lets change after creation: hand additions there are removed.
# (A PersistentVolumeClaim's spec is immutable but for its size.)
PRUNABLE_KINDS = {"Deployment", "DaemonSet", "Service", "PodDisruptionBudget", "InferencePool"}


@dataclass(frozen=True)
class Children:
    apply: tuple[dict[str, Any], ...]
    delete: tuple[ChildRef, ...]
    rollouts: tuple[str, ...]
    after: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> the child once applied
    creates: frozenset[str] = frozenset()
    conflicts: tuple[ChildTrouble, ...] = ()
    prune: tuple[Prune, ...] = ()


def plan_children(owner: Ref, rendered: list[dict[str, Any]], live: dict[str, dict[str, Any]]) -> Children:
    """Which rendered children to apply (missing or drifted), which live ones to delete, and each child's
    expected state once that is done (for the status: a Deployment whose spec is applied has a new generation)."""
    apply, rollouts, after, creates, conflicts, prune = [], [], {}, set(), [], []
    for obj in rendered:
        key = key_of(obj)
        desired = with_owner(obj, owner)
        current = live.get(key)
        if current is not None and not owned_by(current, owner):
            conflicts.append(held_trouble(key, current, owner))
            continue
        if current is None:
            creates.add(key)
        elif obj["kind"] in PRUNABLE_KINDS and (added := foreign_additions(current, desired, RECONCILER)):
            prune.append(Prune(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                               tuple(removal_patch(current, added))))
            current = without(current, added)  # what the apply below is judged against
        if differs(desired, current):
            apply.append(desired)
            if current is not None and "template" in desired["spec"] and (
                _template_hash(current) != _template_hash(desired)
            ):
                rollouts.append(key)
            after[key] = _expected_after_apply(desired, current)
        elif current is not None:
            after[key] = current
    rendered_keys = {key_of(obj) for obj in rendered}
    delete = tuple(
        ref for ref in child_refs(owner.name)
        if f"{ref.kind}/{ref.name}" not in rendered_keys and owned_by(live.get(f"{ref.kind}/{ref.name}"), owner)
    )
    return Children(apply=tuple(apply), delete=delete, rollouts=tuple(rollouts), after=after,
                    creates=frozenset(creates), conflicts=tuple(conflicts), prune=tuple(prune))


def to_create(apply: tuple[dict[str, Any], ...], creates: frozenset[str]) -> list[ChildRef]:
    """The children about to be created, whose names must be looked up first."""
    return [ChildRef(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in apply if key_of(o) in creates]


def refused(refusal: Refusal) -> ChildTrouble:
    """A child the API server refused is the user's to fix, like any invalid input."""
    return ChildTrouble(refusal.key, "ChildRefused", f"The API server refused {refusal.key}: {refusal.message}. "
                        "Change the LLMDeployment field that renders it.")


def blockers(children: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """Children that keep replicas from starting, with what to change."""
    found = []
    for key, obj in children.items():
        if key.startswith("PersistentVolumeClaim/") and (obj.get("status") or {}).get("phase") == "Pending":
            found.append(
                f"{key} is Pending: no volume is bound. Does a StorageClass provision ReadWriteMany volumes? "
                "Set spec.cache.storageClassName, or use cache mode nodeLocal."
            )
    return tuple(found)


def key_of(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _expected_after_apply(desired: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The child as the API server will hold it: our fields, its status; a new spec means a new generation."""
    if current is None:
        return {**desired, "metadata": {**desired["metadata"], "generation": 1}, "status": {}}
    generation = current.get("metadata", {}).get("generation", 0)
    if differs({"spec": desired.get("spec")}, {"spec": current.get("spec")}):
        generation += 1
    return {**current, "metadata": {**current["metadata"], "generation": generation}}


def _template_hash(obj: dict[str, Any]) -> Any:
    """The pod template's hash: it changes exactly when a rollout starts."""
    return (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(
        POD_SPEC_HASH_ANNOTATION
    )
