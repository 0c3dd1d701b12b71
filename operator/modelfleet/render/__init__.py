"""Pure functions from an LLMDeployment and its Plan to Kubernetes objects.

What the controller calls:

- ``render_all(resource, plan, settings, replicas=None)``: the objects to apply.
- ``unsupported(spec, plan, settings)``: why the engine cannot serve the spec (before rendering).
- ``selector_labels(name)`` / ``selector_string(name)``: the engine pods' selector (``status.selector``).
- ``child_refs(name)``: every child the operator may create, to delete the ones no longer rendered.
- ``endpoint(resource)``: the in-cluster URL of the OpenAI API (``status.endpoint``).
- ``router_available(live)``: whether the live router Deployment (``router_deployment_name``) has a pod
  available, which lets the Service select the router pods (``render_all(..., router_ready=)``);
  ``routed(spec)``: whether requests go through the router at all (``spec.routing.mode``).
"""

from .fleet import UnsupportedSpec, render_all, unsupported
from .labels import (
    LLMDEPLOYMENT_LABEL,
    POD_SPEC_HASH_ANNOTATION,
    WATCHED_PODS_SELECTOR,
    is_engine_pod,
    is_router_pod,
    selector_labels,
    selector_string,
)
from .manifest import to_yaml
from .names import ChildRef, child_refs, ref_of, router_deployment_name
from .router import routed, router_available
from .service import endpoint

__all__ = [
    "WATCHED_PODS_SELECTOR",
    "LLMDEPLOYMENT_LABEL",
    "POD_SPEC_HASH_ANNOTATION",
    "ChildRef",
    "UnsupportedSpec",
    "child_refs",
    "endpoint",
    "is_engine_pod",
    "is_router_pod",
    "ref_of",
    "render_all",
    "routed",
    "router_available",
    "router_deployment_name",
    "selector_labels",
    "selector_string",
    "to_yaml",
    "unsupported",
]
