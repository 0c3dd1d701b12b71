"""Acting on one LLMDeployment: reconcile it, or record an autoscaling decision.

The LLMDeployment's own events, its children's, the resync loop and the
autoscaling loop may all ask for the same object at once (kopf's thread pool
and the loops' threads): one at a time, each on a fresh read, so the second
never acts on the status the first just replaced.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from modelfleet.api import API_VERSION, KIND
from modelfleet.autoscale.policy import Decision

from . import capacity
from .autoscaler import decision_status, record_metrics
from .config import ProcessConfig
from .events import post_event
from .kube import Kube
from .reconcile import reconcile
from .status import capacity_status

_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)


def reconcile_named(kube: Kube, config: ProcessConfig, namespace: str, name: str) -> None:
    with _locks[(namespace, name)]:
        body = get_llmdeployment(kube, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        outcome = reconcile(kube, config, body, now=now)
        _write_status(kube, body, outcome.status_patch)
        for event in outcome.events:
            post_event(kube, body, event.type, event.reason, event.message, now)


def record_decision(kube: Kube, body: dict[str, Any], decision: Decision) -> None:
    """Write an autoscaling decision; the status change makes the reconcile resize the Deployment."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with _locks[(namespace, name)]:
        current = get_llmdeployment(kube, namespace, name)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        _write_status(kube, current, decision_status(decision, current.get("status") or {}, now))
        if decision.changed:
            post_event(kube, current, "Normal", decision.reason, decision.message, now)
        record_metrics(current, decision)


def record_capacity(kube: Kube, body: dict[str, Any], measurement: capacity.Measurement) -> None:
    """Write a KV capacity verdict, if the object still has the generation it was judged for."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with _locks[(namespace, name)]:
        current = get_llmdeployment(kube, namespace, name)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        previous = current.get("status") or {}
        if current["metadata"].get("generation", 0) != measurement.generation or previous.get("plan") != (
            body.get("status") or {}
        ).get("plan"):
            return  # the spec or the plan moved meanwhile: the next round judges the new one
        now = _now()
        _write_status(kube, current, capacity_status(measurement.verdict, previous, measurement.generation, now))
        event = capacity.transition_event(previous, measurement.verdict)
        if event is not None:
            post_event(kube, current, *event, now)
        capacity.record_metrics(current, measurement.verdict)


def _write_status(kube: Kube, body: dict[str, Any], patch: dict[str, Any]) -> None:
    """A merge patch of the status subresource; nothing is sent when nothing changed."""
    if not patch:
        return
    try:
        kube.resource(API_VERSION, KIND).status.patch(
            body={"status": patch},
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
            content_type="application/merge-patch+json",
        )
    except NotFoundError:
        pass  # deleted meanwhile: nothing to report on


def get_llmdeployment(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return kube.resource(API_VERSION, KIND).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_llmdeployments(kube: Kube) -> list[dict[str, Any]]:
    return kube.resource(API_VERSION, KIND).get().to_dict()["items"]
