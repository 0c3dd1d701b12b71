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
from modelfleet.api.status import Wake
from modelfleet.autoscale.observations import RouterReading
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
    update.update(router_status(decision.router, previous))
    return previous.model_copy(update=update)


def router_status(reading: RouterReading | None, previous: LLMDeploymentStatus) -> dict[str, Any]:
    """``heldRequests`` and ``lastWake`` from what the routers said: unset for a fleet whose routers are not
    read (it cannot scale to zero); a count that could not be read keeps the last one, as the last wake stays
    until a newer one."""
    if reading is None:
        return {"held_requests": None, "last_wake": None}
    update: dict[str, Any] = {}
    if reading.held is not None:
        update["held_requests"] = round(reading.held)
    if reading.wake_time is not None and reading.wake_wait_seconds is not None:
        update["last_wake"] = Wake(time=reading.wake_time, wait_seconds=round(reading.wake_wait_seconds, 1))
    return update
