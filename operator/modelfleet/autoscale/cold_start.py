"""One replica's cold start, phase by phase, from what Kubernetes and the pod's own logs say (pure).

Each phase ends at a moment one of these records:

- the pod: created (``metadata.creationTimestamp``), ``scheduled`` (condition
  PodScheduled), ``prepull_done`` (the pre-pull init container's
  ``finishedAt``), ``engine_started`` (the engine container's ``startedAt``,
  its last start), ``ready`` (condition Ready);
- the kubelet's event ``Pulled`` for the engine container: ``image_pulled``
  (the engine image is pulled after the init containers ran; events live
  an hour, so a late read misses it);
- the engine's log, read with the kubelet's timestamps: the first line that
  matches each of the engine profile's ``cold_start_marks`` ends
  ``weights_loaded``, ``compiled`` and ``serving`` (the profile cites the
  engine source that writes each line);
- the warm-up sidecar's log: its summary line (``runtime.warmup.summarise``,
  ``"event": "warmup"``) ends ``warmed_up``.

A moment that cannot be read leaves its phase unset, and its time falls in
the next phase that was read: the phases always add up to the total, created
to Ready. Pod times have whole seconds (the API server truncates them) and
log times nanoseconds, so a boundary a little before the one preceding it
counts as no time at all, and a log line stamped after the Ready
condition's whole second counts as at Ready. Boundaries, not phases, are
rounded to a tenth of a second, so the rounded phases add up to the
rounded total exactly.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.api import COLD_START_PHASES, ColdStartPhases, ColdStartSample
from modelfleet.engines import EngineProfile

ENGINE_CONTAINER = "engine"
PREPULL_CONTAINER = "prepull"
WARMUP_CONTAINER = "warmup"
# The warm-up sidecar's summary line (runtime.warmup.summarise, logged as JSON when the warm-up ends).
WARMUP_DONE_MARK = r'"event": "warmup"'


@dataclass(frozen=True)
class PodRecord:
    """What the operator read of one Ready engine pod: the pod, its events, and the heads of two logs (None:
    unreadable, ``unreadable`` says why)."""

    pod: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]]
    engine_log: str | None
    warmup_log: str | None
    unreadable: str = ""


def cold_start_sample(record: PodRecord, engine: EngineProfile) -> ColdStartSample | None:
    """The pod's cold start; None when it is not Ready (or says too little to time)."""
    pod = record.pod
    created = _time(pod.get("metadata", {}).get("creationTimestamp"))
    ready = _condition_time(pod, "Ready")
    if created is None or ready is None:
        return None
    marks = engine.cold_start_marks
    moments: dict[str, datetime.datetime | None] = {
        "scheduled": _condition_time(pod, "PodScheduled"),
        "prepull_done": _container_time(pod, "initContainerStatuses", PREPULL_CONTAINER, "terminated", "finishedAt"),
        "image_pulled": _pulled(record.events),
        "engine_started": _container_time(pod, "containerStatuses", ENGINE_CONTAINER, "running", "startedAt"),
        "weights_loaded": _log_mark(record.engine_log, marks.weights_loaded),
        "compiled": _log_mark(record.engine_log, marks.compiled),
        "serving": _log_mark(record.engine_log, marks.serving),
        "warmed_up": _log_mark(record.warmup_log, WARMUP_DONE_MARK),
        "ready": ready,
    }
    total = max(0.0, _offset(created, ready))
    return ColdStartSample(
        replica=pod["metadata"]["name"],
        created=pod["metadata"]["creationTimestamp"],
        total_seconds=total,
        phases=ColdStartPhases(**_durations(created, total, moments)),
        unobserved=_unobserved(moments, record),
    )


def _durations(created: datetime.datetime, total: float,
               moments: Mapping[str, datetime.datetime | None]) -> dict[str, float | None]:
    """Each read phase from the boundary before it, every boundary held within [the one before, Ready]: the phases
    telescope to ``total``."""
    durations: dict[str, float | None] = {}
    last = 0.0
    for phase in COLD_START_PHASES:
        moment = moments[phase]
        if moment is None:
            durations[phase] = None
            continue
        boundary = min(max(_offset(created, moment), last), total)
        durations[phase] = round(boundary - last, 1)
        last = boundary
    return durations


def _offset(created: datetime.datetime, moment: datetime.datetime) -> float:
    """Seconds from ``created`` to ``moment``, to the tenth."""
    return round((moment - created).total_seconds(), 1)


def _unobserved(moments: Mapping[str, datetime.datetime | None], record: PodRecord) -> str:
    missing = [phase for phase in COLD_START_PHASES if moments[phase] is None]
    if not missing:
        return ""
    why = f": {record.unreadable}" if record.unreadable else ""
    return f"not observed: {', '.join(missing)}{why}"


def _time(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    if isinstance(value, datetime.datetime):  # the kubernetes client's models give datetimes
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    text = str(value).replace("Z", "+00:00")
    # RFC 3339 with nanoseconds (the kubelet's log timestamps): Python takes microseconds at most.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _condition_time(pod: Mapping[str, Any], kind: str) -> datetime.datetime | None:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return _time(condition.get("lastTransitionTime"))
    return None


def _container_time(pod: Mapping[str, Any], statuses: str, name: str, state: str,
                    field: str) -> datetime.datetime | None:
    for status in pod.get("status", {}).get(statuses) or []:
        if status.get("name") == name:
            return _time(((status.get("state") or {}).get(state) or {}).get(field))
    return None


def _pulled(events: Iterable[Mapping[str, Any]]) -> datetime.datetime | None:
    """When the kubelet had the engine's image (pulled, or found on the node): its Pulled event."""
    times = [_time(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp")) for e in events
             if e.get("reason") == "Pulled"
             and (e.get("involvedObject") or {}).get("fieldPath") == f"spec.containers{{{ENGINE_CONTAINER}}}"]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _log_mark(log: str | None, pattern: str) -> datetime.datetime | None:
    """The kubelet timestamp of the first line of ``log`` that matches ``pattern``."""
    if not log:
        return None
    mark = re.compile(pattern)
    for line in log.splitlines():
        stamp, _, text = line.partition(" ")
        if mark.search(text):
            return _time(stamp)
    return None
