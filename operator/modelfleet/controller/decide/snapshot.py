"""What ``observe`` hands to decide: one LLMDeployment, parsed once, and the part of the cluster it reads.

The LLMDeployment is here typed only: its identity (``Ref``), the spec as the
``LLMDeployment`` model (or the ``InvalidSpec`` that says why it is not one)
and the stored status as ``LLMDeploymentStatus``. Its raw body stays in
``observe``, the one module that parses it
(``tests/unit/test_controller_parse_once.py`` holds that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import InvalidSpec, LLMDeployment, LLMDeploymentStatus
from modelfleet.api.hub_token import SecretsForbidden
from modelfleet.api.settings import GPUPool
from modelfleet.catalog import ModelConfig, ModelUnavailable


@dataclass(frozen=True)
class Ref:
    """Which LLMDeployment: what its status writes, events and children's owner references name."""

    namespace: str
    name: str
    uid: str
    generation: int = 0
    resource_version: str | None = None  # of the version observed (an event's involvedObject)


@dataclass(frozen=True)
class Snapshot:
    """One LLMDeployment and the part of the cluster its writers read."""

    ref: Ref
    resource: LLMDeployment | InvalidSpec  # the spec, typed, or why it is invalid (status left out)
    status: LLMDeploymentStatus  # as stored; one an older operator wrote that no longer parses reads as empty
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> live child that exists
    pods: tuple[dict[str, Any], ...] = ()  # the engine pods (by the LLMDeployment's label)
    routers: tuple[dict[str, Any], ...] = ()  # the router pods in front of them
    pools: tuple[GPUPool, ...] = ()
    model: ModelConfig | ModelUnavailable | None = None  # None: not read (an invalid spec, or a loop's snapshot)
    # The labels of the Secret spec.model.tokenSecretRef names; None when it names none or it does not exist;
    # SecretsForbidden when the operator may not read Secrets in this namespace (chart: tokenSecretAccess).
    token_secret_labels: dict[str, str] | SecretsForbidden | None = None
    # The namespace's Pod Security level (label pod-security.kubernetes.io/enforce); None: unlabelled or not read.
    pod_security: str | None = None
    # The API server serves InferencePools (controller/discovery.py): the reconcile renders one.
    inference_pools_served: bool = False

    @property
    def autoscaled(self) -> bool:
        """The autoscaler decides the replicas (and so writes ``desiredReplicas``)."""
        return isinstance(self.resource, LLMDeployment) and self.resource.spec.autoscaling.enabled

    @property
    def deployment(self) -> dict[str, Any] | None:
        """The engine Deployment as it stands."""
        return self.children.get(f"Deployment/{self.ref.name}")
