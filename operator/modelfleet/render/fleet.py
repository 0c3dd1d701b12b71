"""Every Kubernetes object of one LLMDeployment, from its spec and plan."""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeployment, LLMDeploymentSpec, OperatorSettings, Plan
from modelfleet.engines import profile_for

from .cache import cache_claim
from .deployment import deployment
from .disruption import disruption_budget
from .engine_args import operator_args
from .extra_args import extra_args_problems
from .inference_pool import inference_pool
from .prepull import prepull_daemonset
from .router import router_objects
from .service import service


class UnsupportedSpec(ValueError):
    """The engine cannot serve the spec as asked; ``problems`` says why, for a person."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def unsupported(spec: LLMDeploymentSpec, plan: Plan, settings: OperatorSettings) -> list[str]:
    """Why the spec's engine cannot serve it with this plan; empty when it can."""
    profile = profile_for(spec.engine.kind)
    return extra_args_problems(spec, operator_args(spec, plan, profile), profile, settings)


def render_all(
    resource: LLMDeployment, plan: Plan, settings: OperatorSettings, replicas: int | None = None,
    restricted: bool = False, router_ready: bool = True, inference_pools_served: bool = False,
) -> list[dict[str, Any]]:
    """The objects to apply, in apply order (volumes before the pods that mount them).

    ``replicas`` is the Deployment's replica count: the autoscaler's decision
    when autoscaling is on, else ``spec.replicas`` (the default). ``restricted``:
    the namespace enforces Pod Security "restricted", so no container runs as
    root (the cache-permissions step is left out). ``router_ready``: a router pod is
    available, so the Service may select the router pods (``service.service``). ``inference_pools_served``:
    the API server serves InferencePools (the controller's discovery), so one
    is rendered unless the settings turn it off. Objects
    carry labels, not owner references (the controller adds those). Raises
    ``UnsupportedSpec`` when the engine cannot serve the spec.
    """
    spec = resource.spec
    problems = unsupported(spec, plan, settings)
    if problems:
        raise UnsupportedSpec(problems)
    objects: list[dict[str, Any]] = []
    if spec.cache.mode == "pvc":
        objects.append(cache_claim(resource, plan))
    if spec.cache.mode == "nodeLocal":
        objects.append(prepull_daemonset(resource, plan, settings))
    objects.append(deployment(resource, plan, settings, spec.replicas if replicas is None else replicas, restricted))
    # The router before the Service that may select its pods (spec.routing).
    objects += router_objects(resource, settings)
    objects.append(service(resource, router_ready))
    objects.append(disruption_budget(resource))
    if inference_pools_served and settings.inference_pool.enabled:
        objects.append(inference_pool(resource, settings))
    return objects
