"""The capacity loop's writes (pure): a KV capacity verdict into status, and when it no longer stands.

The loop (``controller/capacity.py``) scrapes one Ready replica and judges
its KV cache against the plan (``sizing.judge_capacity``); here that verdict
becomes ``status.kvCapacity``, ``status.warmup`` and the ``KVCacheSufficient``
condition, written under the capacity loop's own field manager
(``fields.CAPACITY``), with an event when the condition changes. A verdict
is of one plan: when the plan moves, the capacity writer's fields go
(``standing``), and the next round measures the new plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import LLMDeploymentStatus, Plan, WarmupMeasured
from modelfleet.sizing import KV_CAPACITY_CONDITION, KV_CAPACITY_NOT_REPORTED, CapacityVerdict

from .conditions import condition, find, replaced, without
from .fields import CAPACITY, writes
from .intent import Event, Writes
from .snapshot import Snapshot


@dataclass(frozen=True)
class Measurement:
    verdict: CapacityVerdict
    generation: int
    plan: Plan  # the plan the verdict judged
    warmup: WarmupMeasured | None = None  # what the same replica's warm-up sidecar says it measured


def decide_capacity(snapshot: Snapshot, measurement: Measurement, now: str) -> Writes:
    """What a measurement writes: nothing if the spec or the plan moved since it was taken (the next round
    judges the new one)."""
    if not judges_current(snapshot, measurement):
        return Writes()
    previous = snapshot.status
    after = capacity_status(measurement.verdict, previous, measurement.generation, now, measurement.warmup)
    event = transition_event(previous, measurement.verdict)
    return Writes(writes(previous, after, (CAPACITY,), snapshot.autoscaled),
                  () if event is None else (Event(*event),))


def judges_current(snapshot: Snapshot, measurement: Measurement) -> bool:
    """The measurement is of the object's generation and plan as they stand."""
    return snapshot.ref.generation == measurement.generation and snapshot.status.plan == measurement.plan


def capacity_status(verdict: CapacityVerdict, previous: LLMDeploymentStatus, generation: int,
                    now: str, warmup: WarmupMeasured | None = None) -> LLMDeploymentStatus:
    """The status with a capacity verdict (and what the same replica's warm-up measured) written into it."""
    verdict_condition = condition(KV_CAPACITY_CONDITION, verdict.condition_status, verdict.reason, verdict.message,
                                  generation)
    return previous.model_copy(update={
        "kv_capacity": verdict.capacity,
        "warmup": warmup or previous.warmup,
        "conditions": replaced(previous.conditions, [verdict_condition], now),
    })


def standing(status: LLMDeploymentStatus, judged: Plan | None) -> LLMDeploymentStatus:
    """``status`` without the capacity writer's fields, unless they judged its plan (``judged`` is the plan in force
    when they were written): the engine sizes its KV cache for the plan it runs."""
    if status.plan == judged and status.kv_capacity is not None:
        return status
    return status.model_copy(update={
        "kv_capacity": None, "warmup": None, "conditions": without(status.conditions, (KV_CAPACITY_CONDITION,))})


def settled(status: LLMDeploymentStatus) -> bool:
    """Found sufficient, or known to be unreported by the engine: nothing more to learn from it."""
    found = find(status.conditions, KV_CAPACITY_CONDITION)
    return found is not None and (found.status == "True" or found.reason == KV_CAPACITY_NOT_REPORTED)


def transition_event(previous: LLMDeploymentStatus, verdict: CapacityVerdict) -> tuple[str, str, str] | None:
    """(type, reason, message) when the condition's status changes; None when it stays."""
    before = find(previous.conditions, KV_CAPACITY_CONDITION)
    status = verdict.condition_status
    if before is not None and before.status == status:
        return None
    if verdict.sufficient and before is None:
        return None  # first measurement and all is well: nothing to tell a person
    return ("Warning" if verdict.sufficient is False else "Normal"), verdict.reason, verdict.message
