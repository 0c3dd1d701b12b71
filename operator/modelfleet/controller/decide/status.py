"""The reconcile's part of the status, from what it saw (pure), as the typed ``LLMDeploymentStatus``.

Conditions follow Kubernetes conventions: ``Ready`` (every desired replica is
ready, warm-up included), ``Progressing`` (a rollout or scale-up is under
way), ``Degraded`` (something needs a person: the spec cannot be served, or
the rollout is stuck). ``lastTransitionTime`` moves only when a condition's
status changes, so an unchanged world gives an equal status and the
controller writes nothing.

``derive_status`` returns the whole status as it will read once written:
the reconcile's fields (``fields.RECONCILER``) new, every other writer's as
stored, except the capacity loop's measurement when the plan it judged is no
longer the plan (``capacity.standing``). Each writer then applies its own
part only (``fields.writes``).
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentStatus
from modelfleet.api.status import ConditionStatus

from .capacity import standing
from .conditions import condition, replaced
from .health import IDLE, SCALED_TO_ZERO, WAKING, summarize
from .intent import Observation, Problem

__all__ = ["Observation", "Problem", "derive_status"]


def derive_status(seen: Observation, previous: LLMDeploymentStatus, now: str) -> LLMDeploymentStatus:
    """The whole status after this reconcile."""
    replicas, ready = _replica_counts(seen.deployment)
    held = previous.held_requests or 0  # the autoscaler's last look at the routers (minReplicas 0)
    conditions = [
        condition("Ready", *_ready(seen, ready, held), seen.generation),
        condition("Progressing", *_progressing(seen, ready, held), seen.generation),
        condition("Degraded", *_degraded(seen), seen.generation),
    ]
    desired = seen.desired_replicas if seen.desired_replicas is not None else previous.desired_replicas
    merged = replaced(previous.conditions, conditions, now)
    summary = summarize(merged)
    after = previous.model_copy(update={
        "observed_generation": seen.generation,
        "conditions": merged,
        "health": summary.health,
        "reason": summary.reason,
        "plan": seen.plan or previous.plan,
        "cache_mode": seen.cache_mode or previous.cache_mode,
        "replicas": replicas,
        "ready_replicas": ready,
        # While the autoscaler is on, desiredReplicas is its decision, not the reconcile's to write.
        "desired_replicas": previous.desired_replicas if seen.autoscaled else desired,
        "selector": seen.selector or previous.selector,
        "endpoint": seen.endpoint or previous.endpoint,
    })
    return standing(after, previous.plan)


def _replica_counts(deployment: dict[str, Any] | None) -> tuple[int, int]:
    status = (deployment or {}).get("status") or {}
    return status.get("replicas", 0), status.get("readyReplicas", 0)


def _ready(seen: Observation, ready: int, held: int = 0) -> tuple[ConditionStatus, str, str]:
    desired = seen.desired_replicas
    if seen.deployment is None:
        why = f" {seen.problem.message}" if seen.problem else ""
        return "False", "NotDeployed", f"No engine Deployment exists.{why}"
    if desired == 0 and seen.autoscaled:
        return "False", IDLE, ("No request came for autoscaling.scaleToZeroAfterSeconds: scaled to zero. The router "
                               "holds the next request and wakes a replica; that request waits one cold start.")
    if desired == 0:
        return "False", SCALED_TO_ZERO, "spec.replicas is 0: no replica serves requests."
    if ready == 0 and held:
        return "False", WAKING, f"Waking from zero: the router holds {held} request(s) until a replica is ready."
    if desired is not None and ready >= desired:
        return "True", "AllReplicasReady", f"{ready}/{desired} replicas are ready and warmed up."
    head = f"{ready}/{desired} replicas are ready"
    stuck = _pods_cannot_run(seen)
    if stuck:
        return "False", "PodsCannotRun", f"{head}; {stuck}"
    starting = max(0, _status(seen).get("replicas", 0) - ready)
    if starting:
        return "False", "ReplicasNotReady", f"{head}; {starting} pod(s) are loading or warming up."
    return "False", "ReplicasNotReady", f"{head}; the Deployment has not created the others yet."


def _pods_cannot_run(seen: Observation) -> str | None:
    """Why pods cannot be created or placed, when that is what holds replicas back (Degraded says the same)."""
    failure = _deployment_condition(seen, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return f"pods cannot be created: {failure.get('message', 'no reason given')}"
    if seen.problem is not None and not seen.problem.transient:
        return f"{seen.problem.reason}: {seen.problem.message}"
    return None


def _progressing(seen: Observation, ready: int, held: int = 0) -> tuple[ConditionStatus, str, str]:
    """The Deployment's own rollout state, as ``kubectl rollout status`` reads it: done when the controller saw
    the current template, every replica runs it, no old pod remains and every new one is available."""
    if seen.problem is not None and seen.problem.transient:  # it passes by itself: the rollout waits for it
        return "True", seen.problem.reason, seen.problem.message
    if seen.deployment is None:
        return "False", "NotDeployed", "Nothing to roll out."
    status = _status(seen)
    wanted = seen.deployment.get("spec", {}).get("replicas", seen.desired_replicas or 0)
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    stuck = _pods_cannot_run(seen)
    if status.get("observedGeneration", 0) < seen.deployment.get("metadata", {}).get("generation", 0):
        reason, message = "RollingOut", "The Deployment controller has not seen the new pod template yet."
    elif updated < wanted:
        reason, message = "RollingOut", f"{updated}/{wanted} replicas run the current spec."
    elif total > updated:
        reason, message = "RollingOut", (f"{updated}/{wanted} replicas run the current spec; {total - updated} old "
                                         "pod(s) serve until the new ones are ready.")
    elif available < updated and ready == 0 and held:
        reason, message = WAKING, (f"{updated - available} replica(s) are starting; the router holds {held} "
                                   "request(s) until one is ready.")
    elif available < updated:
        reason, message = "ReplicasStarting", f"{updated - available} replica(s) are starting."
    else:
        return "False", "Complete", "Every replica runs the current spec and is available."
    if stuck:
        return "False", "Blocked", " ".join((message, *seen.blockers, f"It cannot go on: {stuck}"))
    return "True", reason, " ".join((message, *seen.blockers))


def _status(seen: Observation) -> dict[str, Any]:
    return (seen.deployment or {}).get("status") or {}


def _deployment_condition(seen: Observation, kind: str) -> dict[str, Any] | None:
    return next((c for c in _status(seen).get("conditions") or [] if c.get("type") == kind), None)


def _degraded(seen: Observation) -> tuple[ConditionStatus, str, str]:
    if seen.problem and not seen.problem.transient:
        return "True", seen.problem.reason, seen.problem.message
    for item in ((seen.deployment or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == "Progressing" and item.get("reason") == "ProgressDeadlineExceeded":
            return "True", "RolloutStalled", item.get("message", "The rollout made no progress.")
        if item.get("type") == "ReplicaFailure" and item.get("status") == "True":
            return "True", "ReplicaFailure", item.get("message", "Pods could not be created.")
    if seen.router_problem is not None:
        return "True", seen.router_problem.reason, seen.router_problem.message
    return "False", "AsExpected", "The spec is served as asked."
