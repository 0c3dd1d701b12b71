"""Time each new replica's cold start (the reading step): its pod, its events and the heads of two logs.

Runs in the object's worker, before its reconcile, for the Ready engine
pods not timed yet (``decide.cold_start.to_measure``), at most
``PODS_PER_PASS`` a pass so that a fleet scaled up at once does not hold the
worker. Each pod costs one list of its events and two log reads (the
engine's and the warm-up sidecar's first ``LOG_HEAD_BYTES``: the cold start
is at the head), through the API server from the pod's kubelet. What cannot
be read (a node whose kubelet does not answer, events that expired) leaves
those phases unset and says why (``ColdStartSample.unobserved``); the pod is
timed once either way. The samples go to status (``decide.cold_start``)
and to the histogram ``modelfleet_cold_start_seconds{phase, engine}``.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client import ApiException
from urllib3.exceptions import HTTPError

from modelfleet.api import COLD_START_PHASES, ColdStartSample, LLMDeployment
from modelfleet.autoscale.cold_start import ENGINE_CONTAINER, WARMUP_CONTAINER, PodRecord, cold_start_sample
from modelfleet.engines import profile_for

from . import metrics
from .decide import Snapshot, Writes
from .decide.cold_start import decide_cold_start, to_measure
from .kube import Kube

PODS_PER_PASS = 3
LOG_HEAD_BYTES = 256 * 1024

log = logging.getLogger(__name__)

_UNREADABLE = (ApiException, HTTPError, OSError)


def time_cold_starts(kube: Kube, snapshot: Snapshot) -> Writes:
    """The writes that record the cold starts of the pods not timed yet (none when there are none)."""
    resource = snapshot.resource
    if not isinstance(resource, LLMDeployment):
        return Writes()
    engine = profile_for(resource.spec.engine.kind)
    samples = [sample for pod in to_measure(snapshot)[:PODS_PER_PASS]
               if (sample := cold_start_sample(read_pod(kube, pod), engine)) is not None]
    for sample in samples:
        observe(sample, engine.kind)
    return decide_cold_start(snapshot, samples)


def read_pod(kube: Kube, pod: dict[str, Any]) -> PodRecord:
    meta = pod["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    troubles = []
    events: list[dict[str, Any]] = []
    try:
        events = kube.pod_events(namespace, meta["uid"])
    except _UNREADABLE as exc:
        troubles.append(f"events: {_short(exc)}")
    logs: dict[str, str | None] = {}
    for container in (ENGINE_CONTAINER, WARMUP_CONTAINER):
        if not _has_container(pod, container):
            logs[container] = None
            continue
        try:
            logs[container] = kube.pod_log_head(namespace, name, container, LOG_HEAD_BYTES)
        except _UNREADABLE as exc:
            logs[container] = None
            troubles.append(f"{container} log: {_short(exc)}")
    if troubles:
        log.info("timing the cold start of %s/%s: %s", namespace, name, "; ".join(troubles))
    return PodRecord(pod, events, logs[ENGINE_CONTAINER], logs[WARMUP_CONTAINER], "; ".join(troubles))


def observe(sample: ColdStartSample, engine: str) -> None:
    metrics.COLD_START_SECONDS.labels("total", engine).observe(sample.total_seconds)
    for phase in COLD_START_PHASES:
        seconds = getattr(sample.phases, phase)
        if seconds is not None:
            metrics.COLD_START_SECONDS.labels(phase, engine).observe(seconds)


def _has_container(pod: dict[str, Any], name: str) -> bool:
    """From the pod's container statuses: the operator's cache keeps no pod spec (``cache._slim``)."""
    status = pod.get("status") or {}
    return any(c.get("name") == name
               for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []))


def _short(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}".strip()
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
