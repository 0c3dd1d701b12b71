"""The router in front of an LLMDeployment's engine pods (``spec.routing``; docs/router.md, "In the cluster").

With routing on (``leastInFlight``, ``prefix``) the operator renders:

- the headless Service ``<name>-engines``: it selects the engine pods and
  publishes only the ready ones, so its DNS A records are the replicas the
  router may send to (``--endpoints-dns``);
- the router Deployment ``<name>-router``: ``modelfleet router`` from the
  runtime image, listening on the engines' own port under the same port name,
  so the user's Service (``service.service``) switches between the router
  and the engine pods by its selector alone;
- the router pods' PodDisruptionBudget, ``maxUnavailable: 1`` as the engines'.

With ``service`` none of these exist and the Service selects the engine pods.

The router's command line is a ``RouterArgs``, the model ``modelfleet router``
parses: the argv rendered is one the program accepts.
"""

from __future__ import annotations

import math
from typing import Any

from modelfleet.api import LLMDeployment, LLMDeploymentSpec, OperatorSettings
from modelfleet.api.runtime_args import RouterArgs
from modelfleet.engines import profile_for

from . import security
from .disruption import disruption_budget
from .labels import ENGINE, ROUTER, labels, metadata, selector_labels
from .names import engines_service_name, router_budget_name, router_deployment_name
from .probes import PORT_NAME

CONTAINER_NAME = "router"
ADMIN_PORT_NAME = "admin"
TMP_VOLUME = "tmp"

# How many router pods a fleet needs (docs/router.md, "How many router cores a fleet needs"): one router pod
# (one core) relays 5,000 chunks/s with a tail latency of a few ms, and a replica at full batch streams a chunk
# per token, 2,000 tokens/s for Mixtral 8x7B. So one router pod per 2.5 replicas, and never fewer than 2
# (one may be disrupted: the PodDisruptionBudget lets one go at a time).
CHUNKS_PER_SECOND_PER_ROUTER_POD = 5_000
TOKENS_PER_SECOND_PER_REPLICA = 2_000
MIN_ROUTER_PODS = 2

# A held request must outlive a cold start (0 -> 1 replica): the hold is twice the cold start the operator plans
# for (``coldStartEstimateSeconds``), which is a guess until the fleet measured its own, and a cold cache adds the
# download to it. Never below the router's own default.
HOLD_COLD_STARTS = 2

# After the drain timeout the router stops; the kubelet's SIGKILL comes this much later.
EXIT_SECONDS = 10

MEMORY_REQUEST = "256Mi"  # 62 MiB idle, 13 KiB per held request, 24 KiB per stream (benchmarks/router/results.md)
MEMORY_LIMIT = "1Gi"  # request bodies are held in memory, up to --max-body-bytes (32 MiB) each


def router_available(live: dict[str, Any] | None) -> bool:
    """The live router Deployment has a pod available (ready for its minReadySeconds): the Service may select the
    router pods."""
    return int(((live or {}).get("status") or {}).get("availableReplicas") or 0) > 0


def routed(spec: LLMDeploymentSpec) -> bool:
    """Requests go through the router (else the Service selects the engine pods)."""
    return spec.routing.mode != "service"


def fleet_replicas(spec: LLMDeploymentSpec) -> int:
    """The most engine replicas the router pods must carry: maxReplicas when autoscaling, else replicas."""
    return spec.autoscaling.max_replicas if spec.autoscaling.enabled else spec.replicas


def router_replicas(spec: LLMDeploymentSpec) -> int:
    """max(2, ceil(N x tokens/s per replica / chunks/s per router pod)), N the fleet's replicas."""
    chunks = fleet_replicas(spec) * TOKENS_PER_SECOND_PER_REPLICA
    return max(MIN_ROUTER_PODS, math.ceil(chunks / CHUNKS_PER_SECOND_PER_ROUTER_POD))


def endpoints_dns(resource: LLMDeployment) -> str:
    """The headless Service's name as the router resolves it (the short name when the object has no namespace,
    as ``modelfleet render`` may print it: the pod's search path finds it in its own namespace)."""
    name = engines_service_name(resource.metadata["name"])
    namespace = resource.metadata.get("namespace")
    return f"{name}.{namespace}.svc" if namespace else name


def max_hold_seconds(settings: OperatorSettings) -> float:
    default: float = RouterArgs.model_fields["max_hold_seconds"].default
    return max(default, HOLD_COLD_STARTS * settings.cold_start_estimate_seconds)


def router_args(resource: LLMDeployment, settings: OperatorSettings) -> RouterArgs:
    port = profile_for(resource.spec.engine.kind).port
    return RouterArgs(
        endpoints_dns=endpoints_dns(resource),
        endpoints_port=port,
        routing="prefix" if resource.spec.routing.mode == "prefix" else "least-in-flight",
        max_hold_seconds=max_hold_seconds(settings),
        port=port,
    )


def grace_period_seconds(args: RouterArgs) -> int:
    """Longer than the router's drain: unready while endpoints catch up, then requests in flight and held finish."""
    return math.ceil(args.drain_delay_seconds + args.drain_timeout_seconds) + EXIT_SECONDS


def router_container(args: RouterArgs, settings: OperatorSettings) -> dict[str, Any]:
    return {
        "name": CONTAINER_NAME,
        "image": settings.runtime_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["modelfleet"],
        "args": args.to_argv(),
        "ports": [
            {"name": PORT_NAME, "containerPort": args.port, "protocol": "TCP"},
            {"name": ADMIN_PORT_NAME, "containerPort": args.admin_port, "protocol": "TCP"},
        ],
        # Ready with no replica ready too (it holds requests then); unready once SIGTERM came.
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": ADMIN_PORT_NAME},
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 2,
        },
        # A restart drops every request in flight and held: a minute without an answer is a hung loop.
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": ADMIN_PORT_NAME},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": settings.router.cpu_request, "memory": MEMORY_REQUEST},
            "limits": {"memory": MEMORY_LIMIT},
        },
        "securityContext": security.restricted(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def router_placement(settings: OperatorSettings) -> dict[str, Any]:
    """Where the operator's settings send router pods: CPU pods, never the GPU pools' selector or toleration."""
    router = settings.router
    placement: dict[str, Any] = {}
    if router.node_selector:
        placement["nodeSelector"] = dict(sorted(router.node_selector.items()))
    if router.tolerations:
        placement["tolerations"] = [t.to_wire() for t in router.tolerations]
    if router.affinity:
        placement["affinity"] = router.affinity
    return placement


def router_pod_spec(resource: LLMDeployment, settings: OperatorSettings) -> dict[str, Any]:
    name = resource.metadata["name"]
    args = router_args(resource, settings)
    return {
        "enableServiceLinks": False,
        # The router finds the replicas in DNS: it never talks to the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": security.pod_security_context(),
        "terminationGracePeriodSeconds": grace_period_seconds(args),
        **router_placement(settings),
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(name, ROUTER)},
            "matchLabelKeys": ["pod-template-hash"],
        }],
        "containers": [router_container(args, settings)],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}}],
    }


def router_deployment(resource: LLMDeployment, settings: OperatorSettings) -> dict[str, Any]:
    name = resource.metadata["name"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(resource, router_deployment_name(name), ROUTER),
        "spec": {
            "replicas": router_replicas(resource.spec),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector_labels(name, ROUTER)},
            # A new router pod first: the routers' capacity never dips during a rollout.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels(resource, ROUTER)},
                "spec": router_pod_spec(resource, settings),
            },
        },
    }


def engines_service(resource: LLMDeployment) -> dict[str, Any]:
    """Headless: no virtual IP, its DNS name resolves to the ready engine pods' own addresses."""
    name = resource.metadata["name"]
    port = profile_for(resource.spec.engine.kind).port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, engines_service_name(name), ENGINE),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(name),
            # publishNotReadyAddresses stays at its default, false: a replica that is loading or warming up
            # is not named, and the router holds requests instead. (Written out, the API server would drop the
            # false and the drift check would see a change on every reconcile.)
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP", "appProtocol": "http"}
            ],
        },
    }


def router_budget(resource: LLMDeployment) -> dict[str, Any]:
    return disruption_budget(resource, ROUTER, router_budget_name(resource.metadata["name"]))


def router_objects(resource: LLMDeployment, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The router's objects, in apply order (its view of the replicas before the pods that read it); none when
    routing is ``service``."""
    if not routed(resource.spec):
        return []
    return [engines_service(resource), router_deployment(resource, settings), router_budget(resource)]
