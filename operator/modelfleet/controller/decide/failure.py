"""A reconcile that raised, said in the object's own status (pure).

It is the reconcile's own outcome, so it is written by the reconcile's writer
(``fields.RECONCILER``) in the condition that writer owns: ``Degraded``,
reason ``ReconcileFailed``. Once per distinct failure: a retry that fails
the same way (the backoff doubles, so the message changes) writes nothing.
"""

from __future__ import annotations

from modelfleet.api import LLMDeploymentStatus

from .conditions import find
from .fields import RECONCILE_WRITERS, writes
from .intent import Event, Observation, Problem, Writes
from .snapshot import Snapshot
from .status import derive_status


def decide_failure(snapshot: Snapshot, error: BaseException, retry_seconds: float, now: str) -> Writes:
    problem = Problem("ReconcileFailed", f"The operator failed on this object ({type(error).__name__}: "
                      f"{error}); it retries in {retry_seconds:g} s. The operator's log has the details.")
    previous = snapshot.status
    seen = Observation(generation=snapshot.ref.generation, problem=problem, deployment=snapshot.deployment,
                       desired_replicas=previous.desired_replicas, autoscaled=snapshot.autoscaled)
    after = derive_status(seen, previous, now)
    if _degraded_reason(after) == _degraded_reason(previous):
        return Writes()
    return Writes(writes(previous, after, RECONCILE_WRITERS, snapshot.autoscaled),
                  (Event("Warning", problem.reason, problem.message),))


def _degraded_reason(status: LLMDeploymentStatus) -> tuple[str, str] | None:
    found = find(status.conditions, "Degraded")
    return None if found is None else (found.status, found.reason)
