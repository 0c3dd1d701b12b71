"""One LLMDeployment at a time: observe → decide → act, and the two other writers of its status.

The workqueue's workers, the autoscaling loop (a scaling decision) and the
capacity loop (a KV verdict) all write the same status; a per-object lock
makes them take turns, and each starts from the cache, which holds the
last write (``act``), so none acts on a status another just replaced.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import LLMDeploymentStatus, OperatorSettings
from modelfleet.autoscale.policy import Decision

from . import capacity, metrics
from .act import apply_children, finish, write_status
from .autoscaler import decision_status, record_metrics
from .cache import ClusterCache
from .decide import Intent, after_troubles, decide
from .events import post_event
from .kube import Kube
from .observe import LLMDEPLOYMENT_KIND, ModelConfigs, PoolView, SecretLabels, observe
from .status import Observation, Problem, capacity_status, derive_status, read_status


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Reconciler:
    kube: Kube
    cache: ClusterCache
    settings: OperatorSettings
    models: ModelConfigs = field(default_factory=ModelConfigs)
    clock: Callable[[], str] = utc_now
    pools: PoolView = field(init=False)
    secrets: SecretLabels = field(init=False)
    _locks: defaultdict[tuple[str, str], threading.Lock] = field(
        default_factory=lambda: defaultdict(threading.Lock), init=False)

    def __post_init__(self) -> None:
        self.pools = PoolView(self.settings)
        self.secrets = SecretLabels(self.kube.secret_labels)

    def reconcile(self, namespace: str, name: str) -> Intent | None:
        """Bring one LLMDeployment to its desired state; None when it is gone."""
        with self._locks[(namespace, name)]:
            snapshot = observe(self.cache, self.pools, self.models, namespace, name, self.secrets)
            if snapshot is None:
                return None
            now = self.clock()
            with metrics.RECONCILE_SECONDS.time():
                intent = decide(snapshot, self.settings, now)
                troubles = apply_children(self.kube, self.cache, snapshot.body, intent)
                intent = after_troubles(snapshot, intent, troubles, now)
                finish(self.kube, self.cache, snapshot.body, intent, now)
        degraded = any(e.type == "Warning" for e in intent.events)
        metrics.RECONCILES.labels("degraded" if degraded else "ok").inc()
        _record_gauges(snapshot.body, intent.status or read_status(snapshot.previous_status))
        return intent

    def report_failure(self, namespace: str, name: str, error: BaseException, retry_seconds: float) -> None:
        """A reconcile raised: say so in the object's own status (Degraded), once per distinct error."""
        metrics.RECONCILES.labels("error").inc()
        with self._locks[(namespace, name)]:
            body = self.cache.get(LLMDEPLOYMENT_KIND, namespace, name)
            if body is None:
                return
            previous = read_status(body.get("status"))
            problem = Problem("ReconcileFailed", f"The operator failed on this object ({type(error).__name__}: "
                              f"{error}); it retries in {retry_seconds:g} s. The operator's log has the details.")
            seen = Observation(generation=body["metadata"].get("generation", 0), problem=problem,
                               deployment=self.cache.get("Deployment", namespace, name),
                               desired_replicas=previous.desired_replicas)
            status = derive_status(seen, previous, self.clock())
            if _degraded_reason(status) != _degraded_reason(previous):
                write_status(self.kube, self.cache, body, status)
                post_event(self.kube, body, "Warning", problem.reason, problem.message, self.clock())

    def record_decision(self, namespace: str, name: str, decision: Decision) -> None:
        """Write an autoscaling decision; the status change makes the reconcile resize the Deployment."""
        with self._locks[(namespace, name)]:
            body = self.cache.get(LLMDEPLOYMENT_KIND, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            now = self.clock()
            previous = read_status(body.get("status"))
            status = decision_status(decision, previous, now)
            if status != previous:
                write_status(self.kube, self.cache, body, status)
            if decision.changed:
                post_event(self.kube, body, "Normal", decision.reason, decision.message, now)
            record_metrics(body, decision)

    def record_capacity(self, namespace: str, name: str, measurement: capacity.Measurement) -> None:
        """Write a KV capacity verdict, if the object still has the generation and plan it was judged for."""
        with self._locks[(namespace, name)]:
            body = self.cache.get(LLMDEPLOYMENT_KIND, namespace, name)
            if body is None or body["metadata"].get("deletionTimestamp"):
                return
            previous = read_status(body.get("status"))
            if body["metadata"].get("generation", 0) != measurement.generation or previous.plan != measurement.plan:
                return  # the spec or the plan moved meanwhile: the next round judges the new one
            now = self.clock()
            status = capacity_status(measurement.verdict, previous, measurement.generation, now, measurement.warmup)
            if status != previous:
                write_status(self.kube, self.cache, body, status)
            event = capacity.transition_event(previous, measurement.verdict)
            if event is not None:
                post_event(self.kube, body, *event, now)
            capacity.record_metrics(body, measurement.verdict)


def _degraded_reason(status: LLMDeploymentStatus) -> tuple[str, str] | None:
    found = next((c for c in status.conditions if c.type == "Degraded"), None)
    return None if found is None else (found.status, found.reason)


def _record_gauges(body: dict[str, Any], status: LLMDeploymentStatus) -> None:
    labels = (body["metadata"].get("namespace", ""), body["metadata"]["name"])
    metrics.READY_REPLICAS.labels(*labels).set(status.ready_replicas or 0)
    metrics.DESIRED_REPLICAS.labels(*labels).set(status.desired_replicas or 0)
