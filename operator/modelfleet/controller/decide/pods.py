"""What the engine pods say (pure): which are ready to serve, which the scheduler cannot place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelfleet.api import Plan

from .intent import Problem


def ready_pods(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods that serve: Ready, with an address, not being deleted (the autoscaler scrapes these)."""
    return [pod for pod in pods if _ready(pod) and not pod["metadata"].get("deletionTimestamp")]


def unschedulable(pods: tuple[dict[str, Any], ...], deployment: dict[str, Any] | None,
                  plan: Plan) -> Problem | None:
    """The scheduler's own words for engine pods it cannot place; ``RolloutBlocked`` when they are a rollout's
    new pods (the old ones keep serving, but the rollout cannot finish). While engine pods of the same
    LLMDeployment are terminating (a scale-down's drain, a replaced pod), their GPUs, CPU and memory are still
    counted by the scheduler and come free when they are gone: that wait passes by itself (transient), and
    only what is still unplaceable after them is a problem for a person."""
    stuck = [f"pod {pod['metadata']['name']}: {message.rstrip('.')}" for pod in pods
             if (message := unschedulable_pod(pod)) is not None]
    if not stuck:
        return None
    leaving = [pod["metadata"]["name"] for pod in pods if pod.get("metadata", {}).get("deletionTimestamp")]
    if leaving:
        return Problem("WaitingForTerminatingPods",
                       f"The scheduler cannot place engine pods yet: {'; '.join(stuck)}. {len(leaving)} pod(s) of "
                       f"this LLMDeployment are terminating ({', '.join(sorted(leaving))}) and free their resources "
                       "when they are gone.", transient=True)
    status = (deployment or {}).get("status") or {}
    rolling = status.get("updatedReplicas", 0) < (deployment or {}).get("spec", {}).get("replicas", 0) and (
        status.get("readyReplicas", 0) > 0)
    need = (f"Each replica needs {plan.gpus_per_replica} nvidia.com/gpu on one node of pool {plan.pool} "
            f"({plan.gpu_product}).")
    if rolling:
        return Problem("RolloutBlocked", f"The rollout cannot place its new pods: {'; '.join(stuck)}. {need} "
                       "Free GPUs in the pool (or add nodes), or set spec.rollout.replaceInPlace: true "
                       "(one replica down at a time, no spare GPUs needed).")
    return Problem("Unschedulable", f"The scheduler cannot place engine pods: {'; '.join(stuck)}. {need} "
                   "Check spec.placement against the pool's nodes, or free GPUs in the pool.")


# A container waiting for one of these does not come up without a change (an image, a config, the code).
_FAILING_WAITS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                  "CreateContainerConfigError", "CreateContainerError")


def failing_routers(routers: Iterable[dict[str, Any]], available: bool) -> Problem | None:
    """Router pods that crash, cannot pull their image or cannot be placed, in the kubelet's and the scheduler's
    words, and what the fleet loses meanwhile: with none available the Service selects the engine pods
    straight (no fewest-in-flight or prefix routing, and at zero replicas nothing holds a request)."""
    failing = [f"pod {pod['metadata']['name']}: {why}" for pod in routers
               if not pod["metadata"].get("deletionTimestamp")
               and (why := container_failing(pod) or unschedulable_pod(pod)) is not None]
    if not failing:
        return None
    meanwhile = ("Other router pods carry the requests meanwhile." if available else
                 "No router pod is available: the Service sends requests straight to the engine pods (no "
                 "fewest-in-flight or prefix routing; at zero replicas no request is held).")
    return Problem("RouterFailing", f"Router pods cannot run: {'; '.join(failing)}. {meanwhile} Fix the router "
                   "image or its settings in the chart (router.*), or set spec.routing.mode: service.")


def container_failing(pod: Mapping[str, Any]) -> str | None:
    """Why a container of the pod waits without coming up by itself (``_FAILING_WAITS``), in the kubelet's words."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FAILING_WAITS:
            last = (container.get("lastState") or {}).get("terminated") or {}
            said = str(last.get("message") or last.get("reason") or "")[-300:]
            exited = f" (last exit {last['exitCode']}: {said})" if "exitCode" in last else ""
            return f"{waiting['reason']}{exited}: {str(waiting.get('message') or '')[-300:]}".rstrip(": ")
    return None


def unschedulable_pod(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message for a live pod it cannot place; None for any other pod."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return None
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (condition.get("type"), condition.get("status"), condition.get("reason")) == (
                "PodScheduled", "False", "Unschedulable"):
            return str(condition.get("message") or "no reason given")
    return None


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
