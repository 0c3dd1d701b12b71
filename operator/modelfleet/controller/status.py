"""Status of an LLMDeployment from what reconcile saw (pure).

Conditions follow Kubernetes conventions: ``Ready`` (every desired replica is
ready, warm-up included), ``Progressing`` (a rollout or scale-up is under
way), ``Degraded`` (something needs a person: the spec cannot be served, or
the rollout is stuck). ``lastTransitionTime`` moves only when a condition's
status changes, so an unchanged world gives an unchanged status and the
controller writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import Plan
from modelfleet.sizing import KV_CAPACITY_CONDITION


@dataclass(frozen=True)
class Problem:
    """Why the spec cannot be served as asked; ``reason`` is one CamelCase word."""

    reason: str
    message: str


@dataclass(frozen=True)
class Observation:
    """What one reconcile saw and decided."""

    generation: int
    problem: Problem | None = None
    plan: Plan | None = None
    desired_replicas: int | None = None
    deployment: dict[str, Any] | None = None  # the live engine Deployment, if any
    selector: str | None = None
    endpoint: str | None = None
    blockers: tuple[str, ...] = ()  # children that hold replicas back, said for a person
    extra: dict[str, Any] = field(default_factory=dict)  # fields other loops own (queueDepth, lastScaleTime)


def derive_status(seen: Observation, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The whole status object, in wire (camelCase) form."""
    previous = previous or {}
    replicas, ready = _replica_counts(seen.deployment)
    plan = seen.plan.to_wire() if seen.plan else previous.get("plan")
    conditions = [
        _condition("Ready", *_ready(seen, ready), seen.generation),
        _condition("Progressing", *_progressing(seen, ready), seen.generation),
        _condition("Degraded", *_degraded(seen), seen.generation),
    ]
    # The capacity loop owns the measured KV cache; it stays while the plan it was judged against does.
    measured = plan == previous.get("plan") and "kvCapacity" in previous
    conditions += [c for c in previous.get("conditions") or [] if measured and c.get("type") == KV_CAPACITY_CONDITION]
    status = {
        **{k: v for k, v in previous.items() if k in ("queueDepth", "lastScaleTime")},
        "kvCapacity": previous.get("kvCapacity") if measured else None,
        **seen.extra,
        "observedGeneration": seen.generation,
        "conditions": _keep_transition_times(conditions, previous.get("conditions") or [], now),
        "plan": plan,
        "replicas": replicas,
        "readyReplicas": ready,
        "desiredReplicas": seen.desired_replicas if seen.desired_replicas is not None else previous.get("desiredReplicas"),
        "selector": seen.selector or previous.get("selector"),
        "endpoint": seen.endpoint or previous.get("endpoint"),
    }
    kept = {k: v for k, v in status.items() if v is not None}
    if "kvCapacity" in previous and not measured:
        kept["kvCapacity"] = None  # a merge patch deletes with null: a measurement of an old plan must go
    return kept


def status_changes(new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The top-level status fields that differ (a merge patch; empty when nothing changed)."""
    old = old or {}
    return {k: v for k, v in new.items() if old.get(k) != v}


def _replica_counts(deployment: dict[str, Any] | None) -> tuple[int, int]:
    status = (deployment or {}).get("status") or {}
    return status.get("replicas", 0), status.get("readyReplicas", 0)


def _ready(seen: Observation, ready: int) -> tuple[str, str, str]:
    desired = seen.desired_replicas
    if seen.deployment is None:
        return "False", "NotDeployed", "No engine Deployment exists yet."
    if desired == 0:
        return "False", "ScaledToZero", "spec.replicas is 0: no replica serves requests."
    if desired is not None and ready >= desired:
        return "True", "AllReplicasReady", f"{ready}/{desired} replicas are ready and warmed up."
    return "False", "ReplicasNotReady", f"{ready}/{desired} replicas are ready; the others are loading or warming up."


def _progressing(seen: Observation, ready: int) -> tuple[str, str, str]:
    if seen.deployment is None:
        return "False", "NotDeployed", "Nothing to roll out."
    status = seen.deployment.get("status") or {}
    desired = seen.desired_replicas or 0
    deployment_generation = seen.deployment.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < deployment_generation or status.get("updatedReplicas", 0) < desired:
        reason, message = "RollingOut", f"{status.get('updatedReplicas', 0)}/{desired} replicas run the current spec."
    elif ready < desired:
        reason, message = "ReplicasStarting", f"{desired - ready} replica(s) are starting."
    else:
        return "False", "Complete", "Every replica runs the current spec."
    return "True", reason, " ".join((message, *seen.blockers))


def _degraded(seen: Observation) -> tuple[str, str, str]:
    if seen.problem:
        return "True", seen.problem.reason, seen.problem.message
    for condition in ((seen.deployment or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "True", "RolloutStalled", condition.get("message", "The rollout made no progress.")
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return "True", "ReplicaFailure", condition.get("message", "Pods could not be created.")
    return "False", "AsExpected", "The spec is served as asked."


def _condition(kind: str, status: str, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "observedGeneration": generation}


def capacity_status(verdict, previous: dict[str, Any], generation: int, now: str) -> dict[str, Any]:
    """The status fields a capacity verdict changes (a merge patch: the whole conditions list, since a
    merge patch replaces lists); empty when nothing moved."""
    condition = _condition(KV_CAPACITY_CONDITION, "True" if verdict.sufficient else "False", verdict.reason,
                           verdict.message, generation)
    others = [c for c in previous.get("conditions") or [] if c.get("type") != KV_CAPACITY_CONDITION]
    mine = _keep_transition_times([condition], previous.get("conditions") or [], now)
    new = {"kvCapacity": verdict.capacity.to_wire(), "conditions": others + mine}
    return status_changes(new, previous)


def _keep_transition_times(new: list[dict], old: list[dict], now: str) -> list[dict]:
    before = {c.get("type"): c for c in old}
    out = []
    for condition in new:
        prior = before.get(condition["type"])
        same = prior is not None and prior.get("status") == condition["status"] and prior.get("lastTransitionTime")
        out.append({**condition, "lastTransitionTime": prior["lastTransitionTime"] if same else now})
    return out
