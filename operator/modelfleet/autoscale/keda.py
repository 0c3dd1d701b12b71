"""A KEDA ScaledObject for users who scale with KEDA instead of the operator (pure data).

With ``autoscaling.enabled: false`` the operator steps aside: ``spec.replicas``
rules, and anything that drives the LLMDeployment's scale subresource (kubectl
scale, an HPA, KEDA) sets it. This object points KEDA at that subresource, not
at the Deployment, so the operator stays the only writer of its children.

The trigger is the requests *in flight* (the engine's running + waiting
gauges, summed over the engine pods) with ``metricType: AverageValue``, so the
HPA that KEDA creates asks for ``ceil(in_flight / threshold)`` replicas, and
the threshold is a share of the batch limit: ``maxConcurrency x
KEDA_OCCUPANCY``. It is the built-in autoscaler's own signal.

Why not the waiting queue (``vllm:num_requests_waiting > 5``, the trigger of
vLLM production-stack's KEDA tutorial, which this module shipped before): an
engine's waiting queue fills only when every slot of its batch is taken, so
the trigger reads 0 whenever the fleet keeps up, and the HPA drops the fleet to
minReplicaCount after each stabilization window, then meets the next load with
a 3-minute cold start. In the fleet simulator's earlier protocol (one central
queue, a 180 s cold start; benchmarks/fleet-sim/README.md, Mixtral on 2x H100,
batch limit 64, 3 traces x 3 seeds) that trigger waits
128-142 s at p95 and 144-167 s at p99 on every trace and seed, with 249-280
reversals a day, and still spends 1.2-1.9x the GPU-hours of running + waiting
at 48 per replica (the default threshold here): 69-71 GPU-hours at p95 0-36 s
and p99 43-57 s on the bursty trace, 19-20 at p99 102-108 s on the step (a
5x step that any reactive policy meets with a 3-minute cold start), 43-49 at
p95 2-20 s and p99 8-42 s on the Azure-like one, with 66-200 reversals a day.
Lower the occupancy for tighter tails: at 32 per replica (0.5) the bursty
trace waits 0-5 s at p95 and 11-27 s at p99 for 88 GPU-hours; at 24, 0 s and
0-12 s for 105.

The best threshold follows the cold start. In the simulator's current
protocol (benchmarks/fleet-sim/results.md: requests reach the replicas
through a Service, queueing in each engine; the threshold tuned per trace to
the built-in policy's waits), the cheapest threshold was 24-30 of 64 at a
180 s cold start, 42-48 at 60 s and 46-48 at 20 s: the 48 here (0.75) suits
fast cold starts; with a 3-minute cold start lower it or expect longer tails
after a rise. The built-in policy's burst reserve scales with the measured
cold start for the same reason.

Scale to zero (``minReplicas: 0``, behind the router): the query adds the
requests the router pods hold (``modelfleet_router_held_requests``), each sum
``or vector(0)`` so that the trigger reads 0, not "no data", when the engines
are gone. That is the signal the built-in autoscaler wakes on: it exists at
zero replicas, where every engine series has vanished. KEDA activates the
fleet when it is above ``activationThreshold`` (0: the first held request) and
takes it to zero after ``cooldownPeriod`` (``scaleToZeroAfterSeconds``) at 0.

The HPA behavior carries the stabilization windows. It assumes Prometheus
scrapes the engine pods with the usual ``namespace`` and ``pod`` labels (a
PodMonitor or the kubernetes-pods scrape job).
"""

from __future__ import annotations

from typing import Any

from modelfleet.api.spec import AutoscalingSpec, EngineKind
from modelfleet.engines.metrics import metrics_for

API_VERSION = "modelfleet.io/v1alpha1"
KIND = "LLMDeployment"
POLLING_INTERVAL_S = 15
# The share of the batch the HPA aims to fill (benchmarks/fleet-sim: see the module docstring).
KEDA_OCCUPANCY = 0.75


def in_flight_query(kind: EngineKind, namespace: str, pod_prefix: str) -> str:
    """The fleet's requests in flight: the engine's running and waiting gauges summed over its pods."""
    names = metrics_for(kind)
    metrics = "|".join((names.running[0], names.waiting[0]))
    return f'sum({{__name__=~"{metrics}", namespace="{namespace}", pod=~"{pod_prefix}-.+"}})'


def held_query(namespace: str, pod_prefix: str) -> str:
    """Requests the router pods hold while no replica is ready (exists at zero replicas)."""
    return f'sum(modelfleet_router_held_requests{{namespace="{namespace}", pod=~"{pod_prefix}-router-.+"}})'


def wake_query(kind: EngineKind, namespace: str, pod_prefix: str) -> str:
    """In flight plus held, each 0 when it has no series: a fleet at zero reads its held requests."""
    return (f"({in_flight_query(kind, namespace, pod_prefix)} or vector(0)) + "
            f"({held_query(namespace, pod_prefix)} or vector(0))")


def threshold(batch_limit: int, occupancy: float = KEDA_OCCUPANCY) -> int:
    """Requests in flight per replica the HPA aims for: a share of the batch limit, at least 1."""
    return max(1, round(batch_limit * occupancy))


def scaled_object(
    name: str,
    namespace: str,
    kind: EngineKind,
    autoscaling: AutoscalingSpec,
    *,
    prometheus_url: str,
    batch_limit: int,
    pod_prefix: str | None = None,
) -> dict[str, Any]:
    """A ``keda.sh/v1alpha1`` ScaledObject that scales LLMDeployment ``name`` on its requests in flight.

    ``batch_limit``: sequences one replica runs at once (``serving.maxConcurrency``,
    the engine's --max-num-seqs); ``pod_prefix``: the name prefix of the engine
    pods (default: ``name``, as the Deployment's pods are named
    ``<deployment>-<hash>-<id>``).
    """
    prefix = pod_prefix or name
    to_zero = autoscaling.min_replicas == 0
    trigger_metadata = {
        "serverAddress": prometheus_url,
        "query": wake_query(kind, namespace, prefix) if to_zero else in_flight_query(kind, namespace, prefix),
        "threshold": str(threshold(batch_limit)),
    }
    if to_zero:
        trigger_metadata["activationThreshold"] = "0"
    zero = {"cooldownPeriod": autoscaling.scale_to_zero_after_seconds} if to_zero else {}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": API_VERSION, "kind": KIND, "name": name},
            "pollingInterval": POLLING_INTERVAL_S,
            **zero,
            "minReplicaCount": autoscaling.min_replicas,
            "maxReplicaCount": autoscaling.max_replicas,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": autoscaling.scale_up_stabilization_seconds},
                "scaleDown": {"stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds},
            }}},
            "triggers": [{
                "type": "prometheus",
                "metricType": "AverageValue",
                "metadata": trigger_metadata,
            }],
        },
    }
