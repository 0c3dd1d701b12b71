"""Decide (pure): from a ``Snapshot`` to what the cluster should become.

``decide`` returns an ``Intent``: the children to server-side apply (those
missing or drifted from what is rendered), the children to delete (ours, no
longer rendered), the whole status, and the events to post. It reads no
clock (``now`` is passed in) and sends nothing, so every decision is
table-tested without a cluster (tests/unit/test_controller_decide.py);
``act`` carries the intent out.

Level-based: each call computes the whole desired state from the spec and
the snapshot, so a missed event, a restart or a concurrent edit converges on
the next call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import InvalidSpec, LLMDeployment, LLMDeploymentStatus, OperatorSettings, Plan, parse_llmdeployment
from modelfleet.catalog import ModelUnavailable
from modelfleet.render import (
    POD_SPEC_HASH_ANNOTATION,
    ChildRef,
    UnsupportedSpec,
    child_refs,
    endpoint,
    render_all,
    selector_string,
)
from modelfleet.sizing import SizingError, plan_deployment

from .drift import differs
from .observe import Snapshot
from .status import Observation, Problem, derive_status, read_status


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Intent:
    """What one reconcile will do. ``status`` is None when the stored one is already right."""

    apply: tuple[dict[str, Any], ...] = ()
    delete: tuple[ChildRef, ...] = ()
    status: LLMDeploymentStatus | None = None
    events: tuple[Event, ...] = ()
    rollouts: tuple[str, ...] = ()  # "Kind/name" of workloads whose pod template changes
    plan: Plan | None = None

    @property
    def writes(self) -> int:
        return len(self.apply) + len(self.delete) + (self.status is not None) + len(self.events)


@dataclass(frozen=True)
class _Children:
    apply: tuple[dict[str, Any], ...]
    delete: tuple[ChildRef, ...]
    rollouts: tuple[str, ...]
    after: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> the child once applied


def decide(snapshot: Snapshot, settings: OperatorSettings, now: str) -> Intent:
    """The intent for one LLMDeployment."""
    body = snapshot.body
    previous = read_status(snapshot.previous_status)
    generation = body["metadata"].get("generation", 0)
    try:
        resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
    except InvalidSpec as exc:
        return _problem(snapshot, Problem("InvalidSpec", str(exc)), now)
    if isinstance(snapshot.model, ModelUnavailable):
        return _problem(snapshot, _problem_of(snapshot.model), now)
    replicas = desired_replicas(resource, previous.desired_replicas)
    try:
        assert snapshot.model is not None  # a valid spec names a model
        plan = plan_deployment(resource.spec, snapshot.model, snapshot.pools, settings.gpu_prices).require_chosen()
        rendered = render_all(resource, plan, settings, replicas=replicas)
    except SizingError as exc:
        return _problem(snapshot, _problem_of(exc), now)
    except UnsupportedSpec as exc:
        return _problem(snapshot, Problem("UnsupportedSpec", str(exc)), now)

    children = plan_children(body, rendered, snapshot.children)
    events = []
    if previous.plan != plan:
        events.append(Event("Normal", "PlanChosen", plan.reason or plan_summary(plan)))
    events += [Event("Normal", "RolloutStarted", f"Rolling out {key} on {plan_summary(plan)}.")
               for key in children.rollouts]
    events += [Event("Normal", "ChildDeleted", f"Deleted {ref.kind}/{ref.name}: no longer needed by the spec.")
               for ref in children.delete]
    name = body["metadata"]["name"]
    seen = Observation(
        generation=generation,
        plan=plan,
        desired_replicas=replicas,
        deployment=children.after.get(f"Deployment/{name}"),
        selector=selector_string(name),
        endpoint=endpoint(resource),
        blockers=blockers(children.after),
    )
    status = derive_status(seen, previous, now)
    return Intent(
        apply=children.apply,
        delete=children.delete,
        status=status if status != previous else None,
        events=tuple(events),
        rollouts=children.rollouts,
        plan=plan,
    )


def desired_replicas(resource: LLMDeployment, decided: int | None) -> int:
    """spec.replicas rules unless the autoscaler is on; then its last decision, within bounds."""
    spec = resource.spec
    if not spec.autoscaling.enabled:
        return spec.replicas
    decided = decided or spec.autoscaling.min_replicas
    return max(spec.autoscaling.min_replicas, min(spec.autoscaling.max_replicas, decided))


def plan_children(owner: dict[str, Any], rendered: list[dict[str, Any]], live: dict[str, dict[str, Any]]) -> _Children:
    """Which rendered children to apply (missing or drifted), which live ones to delete, and each child's
    expected state once that is done (for the status: a Deployment whose spec is applied has a new generation)."""
    apply, rollouts, after = [], [], {}
    for obj in rendered:
        key = _key(obj)
        desired = with_owner(obj, owner)
        current = live.get(key)
        if differs(desired, current):
            apply.append(desired)
            if current is not None and "template" in desired["spec"] and _template_hash(current) != _template_hash(desired):
                rollouts.append(key)
            after[key] = _expected_after_apply(desired, current)
        elif current is not None:
            after[key] = current
    rendered_keys = {_key(obj) for obj in rendered}
    delete = tuple(
        ref for ref in child_refs(owner["metadata"]["name"])
        if f"{ref.kind}/{ref.name}" not in rendered_keys and _owned_by(live.get(f"{ref.kind}/{ref.name}"), owner)
    )
    return _Children(apply=tuple(apply), delete=delete, rollouts=tuple(rollouts), after=after)


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


def plan_summary(plan: Plan) -> str:
    return f"{plan.gpus_per_replica}x {plan.gpu_product} (TP {plan.tensor_parallel_size}) on pool {plan.pool}"


def _problem(snapshot: Snapshot, problem: Problem, now: str) -> Intent:
    """The spec cannot be served: report it, create nothing, keep what already serves."""
    previous = read_status(snapshot.previous_status)
    name = snapshot.body["metadata"]["name"]
    seen = Observation(
        generation=snapshot.body["metadata"].get("generation", 0),
        problem=problem,
        deployment=snapshot.children.get(f"Deployment/{name}"),
        desired_replicas=previous.desired_replicas,
    )
    status = derive_status(seen, previous, now)
    if status == previous:
        return Intent()
    # A Warning only when the Degraded condition changes, not on every status move while degraded.
    degraded_before = next((c for c in previous.conditions if c.type == "Degraded"), None)
    degraded_now = next(c for c in status.conditions if c.type == "Degraded")
    changed = degraded_before is None or (degraded_before.status, degraded_before.reason, degraded_before.message) != (
        degraded_now.status, degraded_now.reason, degraded_now.message)
    events = (Event("Warning", problem.reason, problem.message),) if changed else ()
    return Intent(status=status, events=events)


def _problem_of(exc: Exception) -> Problem:
    return Problem(getattr(exc, "reason", type(exc).__name__), str(exc))


def _expected_after_apply(desired: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The child as the API server will hold it: our fields, its status; a new spec means a new generation."""
    if current is None:
        return {**desired, "metadata": {**desired["metadata"], "generation": 1}, "status": {}}
    generation = current.get("metadata", {}).get("generation", 0)
    if differs({"spec": desired.get("spec")}, {"spec": current.get("spec")}):
        generation += 1
    return {**current, "metadata": {**current["metadata"], "generation": generation}}


def _owned_by(live: dict[str, Any] | None, owner: dict[str, Any]) -> bool:
    """Only what this LLMDeployment owns may be deleted; never touch an object someone else owns."""
    owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
    return any(o.get("uid") == owner["metadata"]["uid"] for o in owners)


def _template_hash(obj: dict[str, Any]) -> Any:
    """The pod template's hash: it changes exactly when a rollout starts."""
    return (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(
        POD_SPEC_HASH_ANNOTATION
    )


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
