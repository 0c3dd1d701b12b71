"""The name of every child an LLMDeployment can have.

``child_refs`` lists all of them whatever the spec, so the controller can
delete the ones a new spec no longer renders (say the PVC after the cache
mode changed from pvc to nodeLocal). Names derive from the LLMDeployment's
name only; ``MAX_NAME_LENGTH`` in ``api.resource`` leaves room for the longest
suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The Gateway API Inference Extension's InferencePool (inference_pool.py): a child only where the API server
# serves it.
INFERENCE_POOL_GROUP = "inference.networking.k8s.io"
INFERENCE_POOL_VERSION = "v1"
INFERENCE_POOL_API_VERSION = f"{INFERENCE_POOL_GROUP}/{INFERENCE_POOL_VERSION}"
INFERENCE_POOL_KIND = "InferencePool"
INFERENCE_POOL_PLURAL = "inferencepools"


@dataclass(frozen=True, order=True)
class ChildRef:
    api_version: str
    kind: str
    name: str


def deployment_name(name: str) -> str:
    return name


def service_name(name: str) -> str:
    return name


def disruption_budget_name(name: str) -> str:
    return name


def cache_claim_name(name: str) -> str:
    return f"{name}-cache"


def prepull_daemonset_name(name: str) -> str:
    return f"{name}-prepull"


def engines_service_name(name: str) -> str:
    """The headless Service whose DNS records are the ready engine pods: the router's view of the replicas."""
    return f"{name}-engines"


def router_deployment_name(name: str) -> str:
    return f"{name}-router"


def router_budget_name(name: str) -> str:
    return f"{name}-router"


def inference_pool_name(name: str) -> str:
    return name


def child_refs(name: str) -> list[ChildRef]:
    """Every child the operator may create for the LLMDeployment ``name``, in apply order."""
    return [
        ChildRef("v1", "PersistentVolumeClaim", cache_claim_name(name)),
        ChildRef("apps/v1", "DaemonSet", prepull_daemonset_name(name)),
        ChildRef("apps/v1", "Deployment", deployment_name(name)),
        ChildRef("v1", "Service", engines_service_name(name)),
        ChildRef("apps/v1", "Deployment", router_deployment_name(name)),
        ChildRef("policy/v1", "PodDisruptionBudget", router_budget_name(name)),
        ChildRef("v1", "Service", service_name(name)),
        ChildRef("policy/v1", "PodDisruptionBudget", disruption_budget_name(name)),
        ChildRef(INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, inference_pool_name(name)),
    ]


def ref_of(obj: dict[str, Any]) -> ChildRef:
    """The reference of a rendered (or live) object."""
    return ChildRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
