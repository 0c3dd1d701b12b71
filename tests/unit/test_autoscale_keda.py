"""The KEDA ScaledObject for the external mode: KEDA drives the LLMDeployment's scale subresource."""

from __future__ import annotations

from modelfleet.api.spec import AutoscalingSpec
from modelfleet.autoscale.keda import scaled_object

SPEC = AutoscalingSpec(min_replicas=2, max_replicas=6, target_queue_depth=4,
                       scale_up_stabilization_seconds=0, scale_down_stabilization_seconds=300)


def test_it_scales_the_llmdeployment_not_its_deployment():
    obj = scaled_object("mixtral", "llm", "vllm", SPEC, prometheus_url="http://prometheus.monitoring:9090")
    assert obj["spec"]["scaleTargetRef"] == {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                                             "name": "mixtral"}
    assert (obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]) == (2, 6)


def test_the_trigger_is_the_queue_per_replica_against_the_target():
    obj = scaled_object("mixtral", "llm", "vllm", SPEC, prometheus_url="http://prometheus.monitoring:9090")
    (trigger,) = obj["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == "4"
    assert trigger["metadata"]["query"] == \
        'sum({__name__="vllm:num_requests_waiting", namespace="llm", pod=~"mixtral-.+"})'
    behavior = obj["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_tgi_uses_its_queue_gauge():
    obj = scaled_object("falcon", "llm", "tgi", SPEC, prometheus_url="http://p:9090", pod_prefix="falcon-engine")
    assert obj["spec"]["triggers"][0]["metadata"]["query"] == \
        'sum({__name__="tgi_queue_size", namespace="llm", pod=~"falcon-engine-.+"})'
