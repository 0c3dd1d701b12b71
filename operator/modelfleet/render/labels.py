"""Labels and annotations on every child of an LLMDeployment.

The recommended ``app.kubernetes.io/*`` labels let kubectl, dashboards and
cost tools group the objects; ``modelfleet.io/llmdeployment`` is the one the
controller lists children by. Selectors use only labels that never change for
the life of an LLMDeployment (a Deployment's selector is immutable), so the
engine kind is a label but never part of a selector.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import GROUP, LLMDeployment

LLMDEPLOYMENT_LABEL = f"{GROUP}/llmdeployment"
POD_SPEC_HASH_ANNOTATION = f"{GROUP}/pod-spec-hash"
COMPONENT_LABEL = "app.kubernetes.io/component"

# Components: the engine pods and what fronts them, the shared weights
# volume, the per-node pre-pull pods, and the router pods (with their budget).
ENGINE = "engine"
ROUTER = "router"
CACHE = "cache"
PREPULL = "prepull"


def labels(resource: LLMDeployment, component: str) -> dict[str, str]:
    name = resource.metadata["name"]
    return {
        "app.kubernetes.io/name": resource.spec.engine.kind,
        "app.kubernetes.io/instance": name,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "modelfleet",
        "app.kubernetes.io/managed-by": "modelfleet",
        LLMDEPLOYMENT_LABEL: name,
    }


def selector_labels(name: str, component: str = ENGINE) -> dict[str, str]:
    """The labels that select one component's pods of the LLMDeployment ``name``."""
    return {LLMDEPLOYMENT_LABEL: name, COMPONENT_LABEL: component}


def selector_string(name: str) -> str:
    """The engine pods' selector as ``status.selector`` (the scale subresource) wants it."""
    return ",".join(f"{k}={v}" for k, v in selector_labels(name).items())


def is_engine_pod(pod: dict[str, Any]) -> bool:
    """An engine pod of some LLMDeployment (its pre-pull DaemonSet's pods carry the LLMDeployment's label too)."""
    return (pod.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL) == ENGINE


def is_router_pod(pod: dict[str, Any]) -> bool:
    """A router pod of some LLMDeployment (in front of its engine pods)."""
    return (pod.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL) == ROUTER


# Every LLMDeployment's engine and router pods, as a watch's label selector (the pre-pull pods stay out).
WATCHED_PODS_SELECTOR = f"{LLMDEPLOYMENT_LABEL},{COMPONENT_LABEL} in ({ENGINE},{ROUTER})"


def metadata(resource: LLMDeployment, name: str, component: str) -> dict[str, Any]:
    """Name, the resource's namespace (absent when it has none, e.g. ``modelfleet render``), labels."""
    namespace = resource.metadata.get("namespace")
    return {"name": name, **({"namespace": namespace} if namespace else {}), "labels": labels(resource, component)}
