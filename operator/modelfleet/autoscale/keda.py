"""A KEDA ScaledObject for users who scale with KEDA instead of the operator (pure data).

With ``autoscaling.enabled: false`` the operator steps aside: ``spec.replicas``
rules, and anything that drives the LLMDeployment's scale subresource (kubectl
scale, an HPA, KEDA) sets it. This object points KEDA at that subresource, not
at the Deployment, so the operator stays the only writer of its children.

The trigger is a Prometheus query for the queue gauge summed over the engine
pods, with ``metricType: AverageValue``: the HPA that KEDA creates then asks
for ``ceil(sum / targetQueueDepth)`` replicas, the queue-per-replica target of
the built-in autoscaler. The HPA behavior carries the stabilization windows.
It assumes Prometheus scrapes the engine pods with the usual ``namespace`` and
``pod`` labels (a PodMonitor or the kubernetes-pods scrape job).
"""

from __future__ import annotations

from modelfleet.api.spec import AutoscalingSpec, EngineKind
from modelfleet.engines.metrics import metrics_for

API_VERSION = "modelfleet.io/v1alpha1"
KIND = "LLMDeployment"
POLLING_INTERVAL_S = 15


def queue_query(kind: EngineKind, namespace: str, pod_prefix: str) -> str:
    """The fleet's total queue: the engine's waiting gauge summed over the deployment's pods."""
    metric = metrics_for(kind).waiting[0]
    return f'sum({{__name__="{metric}", namespace="{namespace}", pod=~"{pod_prefix}-.+"}})'


def scaled_object(
    name: str,
    namespace: str,
    kind: EngineKind,
    autoscaling: AutoscalingSpec,
    *,
    prometheus_url: str,
    pod_prefix: str | None = None,
) -> dict:
    """A ``keda.sh/v1alpha1`` ScaledObject that scales LLMDeployment ``name`` on its queue.

    ``pod_prefix``: the name prefix of the engine pods (default: ``name``, as
    the Deployment's pods are named ``<deployment>-<hash>-<id>``).
    """
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": API_VERSION, "kind": KIND, "name": name},
            "pollingInterval": POLLING_INTERVAL_S,
            "minReplicaCount": autoscaling.min_replicas,
            "maxReplicaCount": autoscaling.max_replicas,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": autoscaling.scale_up_stabilization_seconds},
                "scaleDown": {"stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds},
            }}},
            "triggers": [{
                "type": "prometheus",
                "metricType": "AverageValue",
                "metadata": {
                    "serverAddress": prometheus_url,
                    "query": queue_query(kind, namespace, pod_prefix or name),
                    "threshold": f"{autoscaling.target_queue_depth:g}",
                },
            }],
        },
    }
