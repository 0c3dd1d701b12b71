"""The autoscaling loop's decision step: scrape each autoscaled fleet's ready replicas, let the policy decide.

The policy (``autoscale.policy``) is pure; this module owns what it does not:
the clock, the engines' addresses, and each LLMDeployment's ``PolicyState``
between rounds, kept in memory. After a restart the state starts empty, and
the policy never scales down before it has watched a whole stabilization
window again. The policy plans with the cold start this LLMDeployment's
replicas measured (the median of ``status.coldStart``), or with
``coldStartEstimateSeconds`` until they have. What a decision writes (``status.desiredReplicas``,
``queueDepth``, ``lastScaleTime``, an event per scale) is decided by
``decide.autoscale`` and written in the LLMDeployment's own worker
(``reconcile.Reconciler``), which then resizes the Deployment in the same pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from modelfleet.api import LLMDeployment, LLMDeploymentStatus
from modelfleet.api.runtime_args import RouterArgs
from modelfleet.autoscale.evaluate import evaluate
from modelfleet.autoscale.policy import Decision, PolicySettings, PolicyState
from modelfleet.autoscale.scrape import ScrapeTarget
from modelfleet.engines import PORT
from modelfleet.render.runtime_containers import WARMUP_PORT

from . import metrics
from .decide import Ref, Snapshot
from .decide.pods import ready_pods
from .decide.replicas import desired_replicas

# Where a ready pod's engine answers; tests point it at local servers.
TargetResolver = Callable[[dict[str, Any]], ScrapeTarget]


def pod_target(pod: dict[str, Any]) -> ScrapeTarget:
    address = pod["status"]["podIP"]
    return ScrapeTarget(name=pod["metadata"]["name"], url=f"http://{address}:{PORT}",
                        warmup_url=f"http://{address}:{WARMUP_PORT}")


# The router's admin port (/metrics), as the operator renders it: the command line's default.
ROUTER_ADMIN_PORT = RouterArgs.model_fields["admin_port"].default


def router_target(pod: dict[str, Any]) -> ScrapeTarget:
    return ScrapeTarget(name=pod["metadata"]["name"], url=f"http://{pod['status']['podIP']}:{ROUTER_ADMIN_PORT}")


@dataclass
class Autoscaler:
    resolve: TargetResolver = pod_target
    resolve_router: TargetResolver = router_target
    cold_start_estimate_s: float = 180.0  # the operator's setting (coldStartEstimateSeconds)
    clock: Callable[[], float] = time.monotonic
    states: dict[str, PolicyState] = field(default_factory=dict)  # by LLMDeployment uid

    async def decide(self, snapshot: Snapshot, session: aiohttp.ClientSession | None = None) -> Decision | None:
        """One round for one LLMDeployment; None when its autoscaling is off (or the spec is invalid)."""
        resource = snapshot.resource
        if not isinstance(resource, LLMDeployment):
            return None  # the reconcile reports it; there is nothing to scale
        if not resource.spec.autoscaling.enabled:
            self.states.pop(snapshot.ref.uid, None)
            return None
        spec = resource.spec
        decision = await evaluate(
            spec.engine.kind,
            PolicySettings.from_spec(spec.autoscaling, batch_limit=spec.serving.max_concurrency,
                                     startup_seconds=planned_cold_start(snapshot.status, self.cold_start_estimate_s)),
            replicas=desired_replicas(spec, snapshot.status.desired_replicas, snapshot.deployment),
            ready=[self.resolve(pod) for pod in ready_pods(snapshot.pods)],
            state=self.states.get(snapshot.ref.uid, PolicyState()),
            now=self.clock(),
            session=session,
            # Only a fleet that may be at zero needs the held count; the others' routers are not read.
            routers=[self.resolve_router(pod) for pod in ready_pods(snapshot.routers)]
            if spec.autoscaling.min_replicas == 0 else None,
        )
        self.states[snapshot.ref.uid] = decision.state
        return decision


def planned_cold_start(status: LLMDeploymentStatus, estimate_s: float) -> float:
    """Seconds from a new replica's creation to Ready: the median the fleet measured, else the estimate."""
    measured = status.cold_start
    return measured.median.total_seconds if measured is not None else estimate_s


def record_metrics(ref: Ref, decision: Decision) -> None:
    labels = (ref.namespace, ref.name)
    if decision.queue_depth is not None:
        metrics.QUEUE_DEPTH.labels(*labels).set(decision.queue_depth)
    if decision.changed:
        direction = "up" if decision.replicas > decision.previous else "down"
        metrics.SCALINGS.labels(*labels, direction).inc()
        metrics.LAST_SCALE.labels(*labels).set(time.time())
