"""Status of an LLMDeployment from what reconcile saw (pure), as the typed ``LLMDeploymentStatus``.

Conditions follow Kubernetes conventions: ``Ready`` (every desired replica is
ready, warm-up included), ``Progressing`` (a rollout or scale-up is under
way), ``Degraded`` (something needs a person: the spec cannot be served, or
the rollout is stuck). ``lastTransitionTime`` moves only when a condition's
status changes, so an unchanged world gives an equal status and the
controller writes nothing.

The operator writes status with server-side apply under one field manager,
so every write is the whole status: the fields other loops own (the
autoscaler's ``queueDepth`` and ``lastScaleTime``, the capacity loop's
``kvCapacity`` and ``KVCacheSufficient``) are carried from the previous
status, and a field left out is a field removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelfleet.api import Condition, LLMDeploymentStatus, Plan, WarmupMeasured
from modelfleet.api.status import ConditionStatus
from modelfleet.sizing import KV_CAPACITY_CONDITION, CapacityVerdict


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
    deployment: dict[str, Any] | None = None  # the engine Deployment as it will be after this reconcile
    selector: str | None = None
    endpoint: str | None = None
    blockers: tuple[str, ...] = ()  # children that hold replicas back, said for a person


def read_status(raw: dict[str, Any] | None) -> LLMDeploymentStatus:
    """The stored status as the typed object; one written by an older operator that no longer parses
    counts as empty (the next write replaces it)."""
    try:
        return LLMDeploymentStatus.model_validate(raw or {})
    except ValidationError:
        return LLMDeploymentStatus()


def derive_status(seen: Observation, previous: LLMDeploymentStatus, now: str) -> LLMDeploymentStatus:
    """The whole status after this reconcile."""
    replicas, ready = _replica_counts(seen.deployment)
    plan = seen.plan or previous.plan
    conditions = [
        _condition("Ready", *_ready(seen, ready), seen.generation),
        _condition("Progressing", *_progressing(seen, ready), seen.generation),
        _condition("Degraded", *_degraded(seen), seen.generation),
    ]
    # The capacity loop owns the measured KV cache; it stays while the plan it was judged against does.
    measured = plan == previous.plan and previous.kv_capacity is not None
    conditions += [c for c in previous.conditions if measured and c.type == KV_CAPACITY_CONDITION]
    return previous.model_copy(update={
        "observed_generation": seen.generation,
        "conditions": keep_transition_times(conditions, previous.conditions, now),
        "plan": plan,
        "replicas": replicas,
        "ready_replicas": ready,
        "desired_replicas": seen.desired_replicas if seen.desired_replicas is not None else previous.desired_replicas,
        "selector": seen.selector or previous.selector,
        "endpoint": seen.endpoint or previous.endpoint,
        "kv_capacity": previous.kv_capacity if measured else None,
        "warmup": previous.warmup if measured else None,
    })


def capacity_status(verdict: CapacityVerdict, previous: LLMDeploymentStatus, generation: int,
                    now: str, warmup: WarmupMeasured | None = None) -> LLMDeploymentStatus:
    """The status with a capacity verdict (and what the same replica's warm-up measured) written into it."""
    condition = _condition(KV_CAPACITY_CONDITION, verdict.condition_status, verdict.reason, verdict.message,
                           generation)
    others = [c for c in previous.conditions if c.type != KV_CAPACITY_CONDITION]
    return previous.model_copy(update={
        "kv_capacity": verdict.capacity,
        "warmup": warmup or previous.warmup,
        "conditions": others + keep_transition_times([condition], previous.conditions, now),
    })


def _replica_counts(deployment: dict[str, Any] | None) -> tuple[int, int]:
    status = (deployment or {}).get("status") or {}
    return status.get("replicas", 0), status.get("readyReplicas", 0)


def _ready(seen: Observation, ready: int) -> tuple[ConditionStatus, str, str]:
    desired = seen.desired_replicas
    if seen.deployment is None:
        return "False", "NotDeployed", "No engine Deployment exists yet."
    if desired == 0:
        return "False", "ScaledToZero", "spec.replicas is 0: no replica serves requests."
    if desired is not None and ready >= desired:
        return "True", "AllReplicasReady", f"{ready}/{desired} replicas are ready and warmed up."
    return "False", "ReplicasNotReady", f"{ready}/{desired} replicas are ready; the others are loading or warming up."


def _progressing(seen: Observation, ready: int) -> tuple[ConditionStatus, str, str]:
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


def _degraded(seen: Observation) -> tuple[ConditionStatus, str, str]:
    if seen.problem:
        return "True", seen.problem.reason, seen.problem.message
    for condition in ((seen.deployment or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return "True", "RolloutStalled", condition.get("message", "The rollout made no progress.")
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return "True", "ReplicaFailure", condition.get("message", "Pods could not be created.")
    return "False", "AsExpected", "The spec is served as asked."


def _condition(kind: str, status: ConditionStatus, reason: str, message: str, generation: int) -> Condition:
    # lastTransitionTime is settled by keep_transition_times.
    return Condition(type=kind, status=status, reason=reason, message=message, observed_generation=generation,
                     last_transition_time="")


def keep_transition_times(new: list[Condition], old: list[Condition], now: str) -> list[Condition]:
    """``lastTransitionTime`` from ``old`` where a condition's status is unchanged, else ``now``."""
    before = {c.type: c for c in old}
    out = []
    for condition in new:
        prior = before.get(condition.type)
        same = prior is not None and prior.status == condition.status and prior.last_transition_time
        when = prior.last_transition_time if same and prior is not None else now
        out.append(condition.model_copy(update={"last_transition_time": when}))
    return out
