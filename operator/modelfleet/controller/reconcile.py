"""One reconcile of one LLMDeployment: observe, size, render, apply, report.

Level-based: every call computes the whole desired state from the spec and
the cluster, so a missed event, a restart or a concurrent edit converges on
the next call. Writes happen only for what changed: drifted children, pruned
children, and status fields whose value moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import GPUPool, InvalidSpec, LLMDeployment, parse_llmdeployment
from modelfleet.catalog import ModelUnavailable, load_model_config
from modelfleet.render import LLMDEPLOYMENT_LABEL, UnsupportedSpec, endpoint, render_all, selector_string
from modelfleet.sizing import SizingError, plan_deployment

from . import metrics
from .children import sync_children
from .config import ProcessConfig
from .kube import Kube
from .pools import pools_from_nodes
from .status import Observation, Problem, derive_status, status_changes


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Outcome:
    status_patch: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def reconcile(kube: Kube, config: ProcessConfig, body: dict[str, Any], now: str) -> Outcome:
    """What to write for ``body`` (the object as last read): a status patch and events."""
    with metrics.RECONCILE_SECONDS.time():
        try:
            outcome = _reconcile(kube, config, body, now)
        except Exception:
            metrics.RECONCILES.labels("error").inc()
            raise
    degraded = any(e.type == "Warning" for e in outcome.events)
    metrics.RECONCILES.labels("degraded" if degraded else "ok").inc()
    return outcome


def _reconcile(kube: Kube, config: ProcessConfig, body: dict[str, Any], now: str) -> Outcome:
    generation = body["metadata"].get("generation", 0)
    previous = body.get("status") or {}
    events: list[Event] = []
    try:
        resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
    except InvalidSpec as exc:
        return _problem(kube, body, Problem("InvalidSpec", str(exc)), previous, now)
    replicas = desired_replicas(resource, previous)
    try:
        plan = _plan(kube, config, resource)
        rendered = render_all(resource, plan, config.settings, replicas=replicas)
    except (ModelUnavailable, SizingError) as exc:
        return _problem(kube, body, Problem(getattr(exc, "reason", type(exc).__name__), str(exc)), previous, now)
    except UnsupportedSpec as exc:
        return _problem(kube, body, Problem("UnsupportedSpec", str(exc)), previous, now)
    if plan.to_wire() != previous.get("plan"):
        events.append(Event("Normal", "PlanChosen", plan.reason or _plan_summary(plan)))

    report = sync_children(kube, body, rendered)
    for key in report.applied:
        metrics.WRITES.labels(key.split("/")[0], "apply").inc()
    for key in report.rollouts:
        events.append(Event("Normal", "RolloutStarted", f"Rolling out {key} on {_plan_summary(plan)}."))
    for key in report.deleted:
        metrics.WRITES.labels(key.split("/")[0], "delete").inc()
        events.append(Event("Normal", "ChildDeleted", f"Deleted {key}: no longer needed by the spec."))

    name = resource.metadata["name"]
    deployment = report.live.get(f"Deployment/{name}")
    seen = Observation(
        generation=generation,
        plan=plan,
        desired_replicas=replicas,
        deployment=deployment,
        selector=selector_string(name),
        endpoint=endpoint(resource),
        blockers=_blockers(report.live),
    )
    status = derive_status(seen, previous, now)
    _record_gauges(resource, status)
    return Outcome(status_patch=status_changes(status, previous), events=events)


def _blockers(live: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """Children that keep replicas from starting, with what to change."""
    found = []
    for key, obj in live.items():
        if key.startswith("PersistentVolumeClaim/") and (obj.get("status") or {}).get("phase") == "Pending":
            found.append(
                f"{key} is Pending: no volume is bound. Does a StorageClass provision ReadWriteMany volumes? "
                "Set spec.cache.storageClassName, or use cache mode nodeLocal."
            )
    return tuple(found)


def desired_replicas(resource: LLMDeployment, previous_status: dict[str, Any]) -> int:
    """spec.replicas rules unless the autoscaler is on; then its last decision, within bounds."""
    spec = resource.spec
    if not spec.autoscaling.enabled:
        return spec.replicas
    decided = previous_status.get("desiredReplicas") or spec.autoscaling.min_replicas
    return max(spec.autoscaling.min_replicas, min(spec.autoscaling.max_replicas, decided))


def discover_pools(kube: Kube, config: ProcessConfig) -> list[GPUPool]:
    nodes = kube.resource("v1", "Node").get().to_dict()["items"]
    return pools_from_nodes(nodes, config.settings.pool_label_key, config.settings.declared_pools)


def _plan(kube: Kube, config: ProcessConfig, resource: LLMDeployment):
    model = load_model_config(resource.spec.model.id, resource.spec.model.revision)
    pools = discover_pools(kube, config)
    result = plan_deployment(resource.spec, model, pools, config.settings.gpu_prices)
    return result.require_chosen()


def _problem(kube: Kube, body: dict[str, Any], problem: Problem, previous: dict[str, Any], now: str) -> Outcome:
    """The spec cannot be served: report it, create nothing, keep what already serves."""
    deployment = _live_deployment(kube, body)
    seen = Observation(
        generation=body["metadata"].get("generation", 0),
        problem=problem,
        deployment=deployment,
        desired_replicas=previous.get("desiredReplicas"),
    )
    status = derive_status(seen, previous, now)
    patch = status_changes(status, previous)
    events = [Event("Warning", problem.reason, problem.message)] if patch.get("conditions") else []
    return Outcome(status_patch=patch, events=events)


def _live_deployment(kube: Kube, body: dict[str, Any]) -> dict[str, Any] | None:
    selector = f"{LLMDEPLOYMENT_LABEL}={body['metadata']['name']}"
    items = kube.resource("apps/v1", "Deployment").get(
        namespace=body["metadata"]["namespace"], label_selector=selector
    ).to_dict()["items"]
    return items[0] if items else None


def _plan_summary(plan) -> str:
    return f"{plan.gpus_per_replica}x {plan.gpu_product} (TP {plan.tensor_parallel_size}) on pool {plan.pool}"


def _record_gauges(resource: LLMDeployment, status: dict[str, Any]) -> None:
    labels = (resource.metadata.get("namespace", ""), resource.metadata["name"])
    metrics.READY_REPLICAS.labels(*labels).set(status.get("readyReplicas", 0))
    metrics.DESIRED_REPLICAS.labels(*labels).set(status.get("desiredReplicas", 0))

