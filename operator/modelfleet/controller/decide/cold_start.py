"""The cold-start recorder's writes (pure): which Ready replicas to time, and their cold starts into status.

Each engine pod is timed once, when the worker first sees it Ready
(``to_measure``); its sample (``autoscale.cold_start``) joins
``status.coldStart.recent`` (the last ``COLD_START_SAMPLES``), whose medians
the autoscaler plans with. A phase far slower than its median (``SLOW_FACTOR``
times and ``SLOW_MARGIN_S`` more, over at least ``SLOW_MIN_SAMPLES`` earlier
cold starts) is a Warning event that names the pod, the phase and both
times: a node with a cold image cache, a slow disk, a compile cache that was
not found. Samples outlive plans: a new plan's replicas replace the old ones'
within ``COLD_START_SAMPLES`` starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import Any

from modelfleet.api import (
    COLD_START_PHASES,
    COLD_START_SAMPLES,
    ColdStart,
    ColdStartPhases,
    ColdStartSample,
    ColdStartSummary,
)

from .fields import COLD_START, writes
from .intent import Event, Writes
from .pods import ready_pods
from .snapshot import Snapshot

SLOW_FACTOR = 2.0
SLOW_MARGIN_S = 30.0
SLOW_MIN_SAMPLES = 3
SLOW_REASON = "SlowColdStart"


def to_measure(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Ready engine pods not timed yet, oldest first; pods older than every kept sample are never timed (they were,
    or their turn has passed)."""
    recorded = snapshot.status.cold_start
    kept = recorded.recent if recorded else []
    names = {s.replica for s in kept}
    oldest = min((s.created for s in kept), default="") if len(kept) >= COLD_START_SAMPLES else ""
    pods = [p for p in ready_pods(snapshot.pods)
            if p["metadata"]["name"] not in names and p["metadata"].get("creationTimestamp", "") >= oldest]
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))


def decide_cold_start(snapshot: Snapshot, samples: Sequence[ColdStartSample]) -> Writes:
    """``samples`` (new cold starts) into ``status.coldStart``, with a Warning for each phase far slower than its
    median so far."""
    if not samples:
        return Writes()
    previous = snapshot.status
    before = previous.cold_start.recent if previous.cold_start else []
    events = tuple(event for sample in samples for event in slow_phases(before, sample))
    recent = sorted([*before, *samples], key=lambda s: (s.created, s.replica))[-COLD_START_SAMPLES:]
    after = previous.model_copy(update={"cold_start": ColdStart(last=recent[-1], median=summary(recent),
                                                                recent=recent)})
    return Writes(writes(previous, after, (COLD_START,), snapshot.autoscaled), events)


def slow_phases(before: Sequence[ColdStartSample], sample: ColdStartSample) -> list[Event]:
    """A Warning for each phase of ``sample`` far slower than its median over ``before``."""
    if len(before) < SLOW_MIN_SAMPLES:
        return []
    medians = summary(before).phases
    events = []
    for phase in COLD_START_PHASES:
        took, usual = getattr(sample.phases, phase), getattr(medians, phase)
        if took is None or usual is None or took < max(usual * SLOW_FACTOR, usual + SLOW_MARGIN_S):
            continue
        events.append(Event("Warning", SLOW_REASON, (
            f"Replica {sample.replica}: phase {_wire(phase)} took {took:g} s, {_ratio(took, usual)} the median "
            f"{usual:g} s of the last {len(before)} cold starts (created to Ready: {sample.total_seconds:g} s). "
            "status.coldStart has every phase; a slow image pull or pre-pull points at the node, a slow "
            "compiled phase at a compile cache the replica did not find.")))
    return events


def summary(samples: Sequence[ColdStartSample]) -> ColdStartSummary:
    """The medians of ``samples`` (at least one): in all, and each phase over the samples that observed it."""
    phases = {}
    for phase in COLD_START_PHASES:
        seen = [value for s in samples if (value := getattr(s.phases, phase)) is not None]
        phases[phase] = round(median(seen), 1) if seen else None
    return ColdStartSummary(samples=len(samples), total_seconds=round(median(s.total_seconds for s in samples), 1),
                            phases=ColdStartPhases(**phases))


def _ratio(took: float, usual: float) -> str:
    return f"{took / usual:.1f}x" if usual > 0 else "far above"


def _wire(phase: str) -> str:
    head, *rest = phase.split("_")
    return head + "".join(word.capitalize() for word in rest)
