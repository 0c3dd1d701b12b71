"""The autoscaling loop: scrape each autoscaled fleet, decide, record the decision.

The policy (``autoscale.policy``) is pure; this module owns what it does not:
the clock, the Kubernetes reads (which pods are ready, at which address) and
writes (``status.desiredReplicas``, ``queueDepth``, ``lastScaleTime``, an
event per scale), and each LLMDeployment's ``PolicyState`` between rounds,
kept in memory. After a restart the state starts empty, and the policy never
scales down before it has watched a whole stabilization window again.

Writing ``status.desiredReplicas`` is the whole act of scaling: the status
change is an event on the LLMDeployment, its reconcile renders the Deployment
with that many replicas (``reconcile.desired_replicas``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from modelfleet.api import InvalidSpec, LLMDeployment, parse_llmdeployment
from modelfleet.autoscale.evaluate import evaluate
from modelfleet.autoscale.policy import Decision, PolicySettings, PolicyState
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.engines import PORT
from modelfleet.render import selector_string

from . import metrics
from .kube import Kube

# Where a ready pod's engine answers; tests point it at local servers.
TargetResolver = Callable[[dict[str, Any]], ScrapeTarget]


def pod_target(pod: dict[str, Any]) -> ScrapeTarget:
    return ScrapeTarget(name=pod["metadata"]["name"], url=f"http://{pod['status']['podIP']}:{PORT}")


@dataclass
class Autoscaler:
    kube: Kube
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
            ready=[self.resolve(pod) for pod in await asyncio.to_thread(self.ready_pods, resource)],
            state=self.states.get(body["metadata"]["uid"], PolicyState()),
            now=self.clock(),
            session=session,
        )
        self.states[body["metadata"]["uid"]] = decision.state
        return decision

    def _asked(self, body: dict[str, Any]) -> int:
        """Replicas asked for now: the last decision, else what the Deployment runs."""
        desired = (body.get("status") or {}).get("desiredReplicas")
        return desired if desired is not None else (body.get("status") or {}).get("replicas", 0)

    def ready_pods(self, resource: LLMDeployment) -> list[dict[str, Any]]:
        pods = self.kube.resource("v1", "Pod").get(
            namespace=resource.metadata["namespace"], label_selector=selector_string(resource.metadata["name"])
        ).to_dict()["items"]
        return [p for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]


def decision_status(decision: Decision, previous: dict[str, Any], now: str) -> dict[str, Any]:
    """The status fields a decision changes (a merge patch; empty when nothing moved)."""
    patch: dict[str, Any] = {}
    if decision.changed or previous.get("desiredReplicas") != decision.replicas:
        patch["desiredReplicas"] = decision.replicas
    if decision.changed:
        patch["lastScaleTime"] = now
    depth = None if decision.queue_depth is None else round(decision.queue_depth, 2)
    if depth is not None and previous.get("queueDepth") != depth:
        patch["queueDepth"] = depth
    return patch


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
