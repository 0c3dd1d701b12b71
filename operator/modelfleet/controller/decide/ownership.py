"""Which children are this LLMDeployment's (pure): owner references, and names someone else holds.

The operator never adopts an object it did not create: a server-side apply over it would make the
LLMDeployment its controller, and the garbage collector would delete someone else's PVC or Service with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelfleet.api import API_VERSION, KIND

from .intent import ChildTrouble
from .snapshot import Ref


def owner_reference(owner: Ref) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: dict[str, Any], owner: Ref) -> dict[str, Any]:
    metadata = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": metadata}


def owned_by(live: dict[str, Any] | None, owner: Ref) -> bool:
    """Only what this LLMDeployment owns may be deleted; never touch an object someone else owns."""
    owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
    return any(o.get("uid") == owner.uid for o in owners)


def name_conflict(key: str, holder: dict[str, Any]) -> ChildTrouble:
    """Say whose the object is and what to change."""
    owners = [f"{o.get('kind')}/{o.get('name')}" for o in holder.get("metadata", {}).get("ownerReferences") or []]
    whose = f"owned by {', '.join(owners)}" if owners else "not created by modelfleet"
    return ChildTrouble(key, "NameConflict", f"{key} already exists and is {whose}; the operator will not take it "
                        "over. Rename the LLMDeployment, or delete or rename that object.")


def of_predecessor(holder: dict[str, Any], owner: Ref) -> bool:
    """The object is a child of an earlier LLMDeployment of the same name: that one was deleted and this one
    created under its name, and the garbage collector deletes its children in the background, so their names are
    free again within seconds. (An orphaning delete strips the owner reference instead: that object stays a
    conflict.)"""
    owners = holder.get("metadata", {}).get("ownerReferences") or []
    return any(o.get("kind") == KIND and o.get("name") == owner.name and o.get("uid") != owner.uid
               and o.get("controller") for o in owners)


def predecessor_deleting(key: str) -> ChildTrouble:
    return ChildTrouble(key, "PredecessorDeleting", f"{key} still belongs to the LLMDeployment of the same name that "
                        "was deleted before this one was created; the operator creates its own once the garbage "
                        "collector has removed it.", transient=True)


def held_trouble(key: str, holder: dict[str, Any], owner: Ref) -> ChildTrouble:
    """Why ``holder``, which this LLMDeployment does not own, keeps ``key`` from being applied."""
    return predecessor_deleting(key) if of_predecessor(holder, owner) else name_conflict(key, holder)


def held_by_others(held: Mapping[str, dict[str, Any] | None], owner: Ref) -> tuple[ChildTrouble, ...]:
    """Of the names about to be created (``held``: "Kind/name" -> the object that has it, if any), those someone
    else's object holds."""
    return tuple(held_trouble(key, holder, owner) for key, holder in held.items()
                 if holder is not None and not owned_by(holder, owner))
