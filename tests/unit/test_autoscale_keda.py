"""The KEDA ScaledObject for the external mode: KEDA drives the LLMDeployment's scale subresource."""

from __future__ import annotations

from modelfleet.api.spec import AutoscalingSpec
from modelfleet.autoscale.keda import KEDA_OCCUPANCY, scaled_object, threshold
from modelfleet.autoscale.scrape import parse_metrics
from modelfleet.engines.metrics import metrics_for

SPEC = AutoscalingSpec(min_replicas=2, max_replicas=6, target_queue_depth=4,
                       scale_up_stabilization_seconds=0, scale_down_stabilization_seconds=300)


def make(kind="vllm", **options):
    return scaled_object("mixtral", "llm", kind, SPEC, prometheus_url="http://prometheus.monitoring:9090",
                         batch_limit=64, **options)


def test_it_scales_the_llmdeployment_not_its_deployment():
    obj = make()
    assert obj["spec"]["scaleTargetRef"] == {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
                                             "name": "mixtral"}
    assert (obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]) == (2, 6)


def test_the_trigger_is_requests_in_flight_per_replica_against_a_share_of_the_batch():
    (trigger,) = make()["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == str(round(64 * KEDA_OCCUPANCY))
    assert trigger["metadata"]["query"] == \
        'sum({__name__=~"vllm:num_requests_running|vllm:num_requests_waiting", namespace="llm", pod=~"mixtral-.+"})'
    behavior = make()["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_the_trigger_never_reads_the_waiting_queue_alone():
    """The old trigger (waiting > 5) read 0 whenever the fleet kept up: the running gauge must be in it."""
    query = make()["spec"]["triggers"][0]["metadata"]["query"]
    assert "vllm:num_requests_running" in query and "vllm:num_requests_waiting" in query


def test_the_trigger_names_the_gauges_the_scraper_reads(tmp_path):
    """The query's series are the ones the engine exposes (checked on vLLM 0.32's recorded /metrics)."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "support" / "metrics" / "vllm-0.32.txt").read_text()
    load = parse_metrics(text, metrics_for("vllm"))
    assert load.running is not None and load.waiting is not None
    for name in (metrics_for("vllm").running[0], metrics_for("vllm").waiting[0]):
        assert f"\n{name}{{" in text


def test_tgi_uses_its_batch_and_queue_gauges():
    obj = make("tgi", pod_prefix="falcon-engine")
    assert obj["spec"]["triggers"][0]["metadata"]["query"] == \
        'sum({__name__=~"tgi_batch_current_size|tgi_queue_size", namespace="llm", pod=~"falcon-engine-.+"})'


def test_the_threshold_is_at_least_one_request():
    assert threshold(1) == 1 and threshold(64) == round(64 * KEDA_OCCUPANCY)


def test_users_get_it_from_the_cli(tmp_path, capsys):
    import yaml

    from modelfleet.cli.main import main

    llmd = tmp_path / "llmd.yaml"
    llmd.write_text(yaml.safe_dump({
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
        "metadata": {"name": "chat", "namespace": "llm"},
        "spec": {"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"}, "serving": {"maxConcurrency": 64},
                 "autoscaling": {"enabled": False, "minReplicas": 2, "maxReplicas": 9}}}))
    assert main(["keda", "-f", str(llmd), "--prometheus", "http://prom:9090"]) == 0
    (scaled,) = yaml.safe_load_all(capsys.readouterr().out)
    assert scaled["kind"] == "ScaledObject" and scaled["metadata"] == {"name": "chat", "namespace": "llm"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (2, 9)
    assert scaled["spec"]["triggers"][0]["metadata"]["threshold"] == "48"
    assert main(["keda", "-f", str(tmp_path / "missing.yaml"), "--prometheus", "http://prom:9090"]) == 1


def test_at_min_replicas_zero_the_trigger_adds_the_routers_held_requests_and_never_reads_no_data():
    spec = AutoscalingSpec(min_replicas=0, max_replicas=6, scale_to_zero_after_seconds=900)
    obj = scaled_object("mixtral", "llm", "vllm", spec, prometheus_url="http://p:9090", batch_limit=64)
    (trigger,) = obj["spec"]["triggers"]
    query = trigger["metadata"]["query"]
    assert 'sum(modelfleet_router_held_requests{namespace="llm", pod=~"mixtral-router-.+"}) or vector(0)' in query
    assert query.count("or vector(0)") == 2  # a fleet at zero has no engine series: it reads 0, not "no data"
    assert trigger["metadata"]["activationThreshold"] == "0"  # the first held request activates it
    assert (obj["spec"]["minReplicaCount"], obj["spec"]["cooldownPeriod"]) == (0, 900)


def test_the_held_series_is_the_one_the_router_exports():
    from modelfleet.autoscale.router_scrape import HELD
    from modelfleet.runtime.router.metrics import RouterMetrics

    assert RouterMetrics().registry.get_sample_value(HELD) == 0
    assert HELD in make_zero()["spec"]["triggers"][0]["metadata"]["query"]


def make_zero():
    return scaled_object("mixtral", "llm", "vllm", AutoscalingSpec(min_replicas=0), prometheus_url="http://p:9090",
                         batch_limit=64)


def test_above_zero_there_is_no_activation_or_cooldown():
    spec = make()["spec"]
    assert "cooldownPeriod" not in spec and "activationThreshold" not in spec["triggers"][0]["metadata"]
