"""The autoscaler's writes (pure): a scaling decision into status.

Writing ``status.desiredReplicas`` is the whole act of scaling: the reconcile
that follows in the same worker renders the Deployment with that many
replicas (``replicas.desired_replicas``). The autoscaler owns
``desiredReplicas`` only while ``spec.autoscaling`` is on; a decision that
arrives after it was turned off writes nothing.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentStatus
from modelfleet.autoscale.policy import Decision

from .fields import AUTOSCALER, writes
from .intent import Event, Writes
from .snapshot import Snapshot


def decide_autoscale(snapshot: Snapshot, decision: Decision, now: str) -> Writes:
    """What a decision writes: its status fields when they moved, an event when the replicas did."""
    if not snapshot.autoscaled:
        return Writes()
    previous = snapshot.status
    after = decision_status(decision, previous, now)
    events = (Event("Normal", decision.reason, decision.message),) if decision.changed else ()
    return Writes(writes(previous, after, (AUTOSCALER,), autoscaled=True), events)


def decision_status(decision: Decision, previous: LLMDeploymentStatus, now: str) -> LLMDeploymentStatus:
    """The status with a decision written into it (equal to ``previous`` when nothing moved)."""
    update: dict[str, Any] = {}
    if decision.changed or previous.desired_replicas != decision.replicas:
        update["desired_replicas"] = decision.replicas
    if decision.changed:
        update["last_scale_time"] = now
    if decision.queue_depth is not None:
        update["queue_depth"] = round(decision.queue_depth, 2)
    return previous.model_copy(update=update)
