"""The autoscaling loop: scrape each autoscaled fleet, decide, record the decision.

The policy (``autoscale.policy``) is pure; this module owns what it does not:
the clock, which pods are ready and at which address (from the watch-fed
cache), what a decision writes (``status.desiredReplicas``, ``queueDepth``,
``lastScaleTime``, an event per scale; written by ``reconcile``), and each
LLMDeployment's ``PolicyState`` between rounds, kept in memory. After a
restart the state starts empty, and the policy never scales down before it
has watched a whole stabilization window again.

Writing ``status.desiredReplicas`` is the whole act of scaling: the status
change is an event on the LLMDeployment, its reconcile renders the Deployment
with that many replicas (``reconcile.desired_replicas``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp

from modelfleet.api import (
    InvalidSpec,
    LLMDeployment,
    LLMDeploymentStatus,
    parse_llmdeployment,
)
from modelfleet.autoscale.evaluate import evaluate
from modelfleet.autoscale.policy import Decision, PolicySettings, PolicyState
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.engines import PORT
from modelfleet.render.runtime_containers import WARMUP_PORT

from . import metrics
from .cache import ClusterCache
from .observe import engine_pods

# Where a ready pod's engine answers; tests point it at local servers.
TargetResolver = Callable[[dict[str, Any]], ScrapeTarget]


def pod_target(pod: dict[str, Any]) -> ScrapeTarget:
    address = pod["status"]["podIP"]
    return ScrapeTarget(name=pod["metadata"]["name"], url=f"http://{address}:{PORT}",
                        warmup_url=f"http://{address}:{WARMUP_PORT}")


@dataclass
class Autoscaler:
    cache: ClusterCache
    resolve: TargetResolver = pod_target
    clock: Callable[[], float] = time.monotonic
    states: dict[str, PolicyState] = field(default_factory=dict)  # by LLMDeployment uid

    async def decide(self, body: dict[str, Any], session: aiohttp.ClientSession | None = None) -> Decision | None:
        """One round for one LLMDeployment; None when its autoscaling is off (or the spec is invalid)."""
        try:
            resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
        except InvalidSpec:
            return None  # reconcile reports it; there is nothing to scale
        if not resource.spec.autoscaling.enabled:
            self.states.pop(body["metadata"]["uid"], None)
            return None
        decision = await evaluate(
            resource.spec.engine.kind,
            PolicySettings.from_spec(resource.spec.autoscaling, batch_limit=resource.spec.serving.max_concurrency),
            replicas=self._asked(body),
            ready=[self.resolve(pod) for pod in self.ready_pods(resource)],
            state=self.states.get(body["metadata"]["uid"], PolicyState()),
            now=self.clock(),
            session=session,
        )
        self.states[body["metadata"]["uid"]] = decision.state
        return decision

    def _asked(self, body: dict[str, Any]) -> int:
        """Replicas asked for now: the last decision, else what the Deployment runs."""
        desired = (body.get("status") or {}).get("desiredReplicas")
        asked = desired if desired is not None else (body.get("status") or {}).get("replicas", 0)
        return cast(int, asked)  # the API server's JSON: an integer field

    def ready_pods(self, resource: LLMDeployment) -> list[dict[str, Any]]:
        pods = engine_pods(self.cache, resource.metadata["namespace"], resource.metadata["name"])
        return [p for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]


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


def record_metrics(body: dict[str, Any], decision: Decision) -> None:
    labels = (body["metadata"]["namespace"], body["metadata"]["name"])
    if decision.queue_depth is not None:
        metrics.QUEUE_DEPTH.labels(*labels).set(decision.queue_depth)
    if decision.changed:
        direction = "up" if decision.replicas > decision.previous else "down"
        metrics.SCALINGS.labels(*labels, direction).inc()
        metrics.LAST_SCALE.labels(*labels).set(time.time())


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
