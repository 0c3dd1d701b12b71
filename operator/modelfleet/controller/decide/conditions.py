"""Status conditions (metav1.Condition): built, timed and replaced by type."""

from __future__ import annotations

from modelfleet.api import Condition
from modelfleet.api.status import ConditionStatus


def condition(kind: str, status: ConditionStatus, reason: str, message: str, generation: int) -> Condition:
    # lastTransitionTime is settled by keep_transition_times.
    return Condition(type=kind, status=status, reason=reason, message=message, observed_generation=generation,
                     last_transition_time="")


def keep_transition_times(new: list[Condition], old: list[Condition], now: str) -> list[Condition]:
    """``lastTransitionTime`` from ``old`` where a condition's status is unchanged, else ``now``."""
    before = {c.type: c for c in old}
    out = []
    for item in new:
        prior = before.get(item.type)
        same = prior is not None and prior.status == item.status and prior.last_transition_time
        when = prior.last_transition_time if same and prior is not None else now
        out.append(item.model_copy(update={"last_transition_time": when}))
    return out


def replaced(old: list[Condition], new: list[Condition], now: str) -> list[Condition]:
    """``old`` with ``new`` in place of the conditions of the same types (the others, another writer's, stay),
    transition times kept where a status did not change."""
    timed = {c.type: c for c in keep_transition_times(new, old, now)}
    kept = [timed.pop(c.type, c) for c in old]
    return kept + list(timed.values())


def without(old: list[Condition], types: tuple[str, ...]) -> list[Condition]:
    return [c for c in old if c.type not in types]


def find(conditions: list[Condition], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)
