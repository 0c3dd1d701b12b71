"""The router's objects (render.router; docs/router.md, "In the cluster"): what each says, and spec.routing."""

from __future__ import annotations

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.api.runtime_args import RouterArgs
from modelfleet.api.settings import RouterSettings
from modelfleet.api.spec import Toleration
from modelfleet.render import child_refs, ref_of, render_all, router_available, selector_labels
from modelfleet.render.security import restricted
from support.render_cases import assert_acceptable, assert_selector_matches, example, example_plan, with_spec

SETTINGS = OperatorSettings()
MIXTRAL = example("mixtral-8x7b-vllm")  # autoscaling on, maxReplicas 8
MIXTRAL_PLAN = example_plan("mixtral-8x7b-vllm")
MISTRAL = example("mistral-7b-tgi")
MISTRAL_PLAN = example_plan("mistral-7b-tgi")
NAME = "mixtral-8x7b"


def objects(resource=MIXTRAL, plan=MIXTRAL_PLAN, settings=SETTINGS) -> dict[str, dict]:
    """Every rendered object by "Kind/name"."""
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in render_all(resource, plan, settings)}


def routed(mode: str, resource=MIXTRAL) -> dict[str, dict]:
    return objects(with_spec(resource, **{"routing.mode": mode}))


def router_pod(rendered: dict[str, dict]) -> dict:
    return rendered[f"Deployment/{NAME}-router"]["spec"]["template"]


def router_container(rendered: dict[str, dict]) -> dict:
    (container,) = router_pod(rendered)["spec"]["containers"]
    return container


def engine_pod_labels(rendered: dict[str, dict]) -> dict[str, str]:
    return rendered[f"Deployment/{NAME}"]["spec"]["template"]["metadata"]["labels"]


# --- spec.routing: which objects, which selector ----------------------------------------------------------


def test_routing_is_on_by_default():
    assert MIXTRAL.spec.routing.mode == "leastInFlight"
    assert {f"Service/{NAME}-engines", f"Deployment/{NAME}-router", f"PodDisruptionBudget/{NAME}-router"} <= set(
        objects())


@pytest.mark.parametrize("mode", ["leastInFlight", "prefix"])
def test_routed_the_users_service_selects_the_router_pods_and_not_the_engines(mode):
    rendered = routed(mode)
    selector = rendered[f"Service/{NAME}"]["spec"]["selector"]
    assert_selector_matches(selector, router_pod(rendered)["metadata"]["labels"])
    assert any(engine_pod_labels(rendered).get(k) != v for k, v in selector.items())


def test_mode_service_renders_no_router_and_the_service_selects_the_engines():
    rendered = routed("service")
    assert not [key for key in rendered if key.endswith(("-router", "-engines"))]
    selector = rendered[f"Service/{NAME}"]["spec"]["selector"]
    assert selector == selector_labels(NAME)
    assert_selector_matches(selector, engine_pod_labels(rendered))


def test_switching_the_mode_changes_only_the_services_selector():
    plain, router = routed("service")[f"Service/{NAME}"], routed("leastInFlight")[f"Service/{NAME}"]
    assert plain["metadata"] == router["metadata"]
    assert {**plain["spec"], "selector": None} == {**router["spec"], "selector": None}
    assert plain["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}]


def test_the_router_listens_on_the_port_the_service_targets():
    rendered = objects()
    (port,) = rendered[f"Service/{NAME}"]["spec"]["ports"]
    ports = {p["name"]: p["containerPort"] for p in router_container(rendered)["ports"]}
    assert ports == {"http": 8000, "admin": 9090}
    assert port["targetPort"] == "http" and ports["http"] == port["port"]


@pytest.mark.parametrize("mode", ["leastInFlight", "prefix", "service"])
def test_child_refs_name_the_router_objects_in_apply_order(mode):
    rendered = [ref_of(o) for o in render_all(with_spec(MIXTRAL, **{"routing.mode": mode}), MIXTRAL_PLAN, SETTINGS)]
    refs = child_refs(NAME)
    assert set(rendered) <= set(refs)
    assert rendered == [ref for ref in refs if ref in rendered]


# --- the headless Service: the router's view of the replicas ------------------------------------------------


def test_the_engines_service_is_headless_and_names_ready_engine_pods_only():
    rendered = objects()
    spec = rendered[f"Service/{NAME}-engines"]["spec"]
    assert spec["clusterIP"] == "None"
    assert spec.get("publishNotReadyAddresses", False) is False
    assert spec["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}]
    assert_selector_matches(spec["selector"], engine_pod_labels(rendered))
    assert any(router_pod(rendered)["metadata"]["labels"].get(k) != v for k, v in spec["selector"].items())


# --- the router's command line: RouterArgs ---------------------------------------------------------------


@pytest.mark.parametrize("mode, routing", [("leastInFlight", "least-in-flight"), ("prefix", "prefix")])
def test_the_router_args_parse_back_with_the_model_the_program_reads(mode, routing):
    container = router_container(routed(mode))
    assert container["command"] == ["modelfleet"]
    args = RouterArgs.parse(container["args"])
    assert args.endpoints_dns == f"{NAME}-engines.llm.svc"
    assert args.routing == routing
    assert args.port == 8000 and args.endpoints_port == 8000 and args.admin_port == 9090


def test_without_a_namespace_the_router_resolves_the_short_name():
    resource = example("mistral-7b-tgi", namespace=None)
    rendered = {f"{o['kind']}/{o['metadata']['name']}": o for o in render_all(resource, MISTRAL_PLAN, SETTINGS)}
    (container,) = rendered["Deployment/mistral-7b-tgi-router"]["spec"]["template"]["spec"]["containers"]
    assert RouterArgs.parse(container["args"]).endpoints_dns == "mistral-7b-tgi-engines"


@pytest.mark.parametrize("estimate, hold", [(180.0, 360.0), (100.0, 300.0), (900.0, 1800.0)])
def test_a_held_request_outlives_the_planned_cold_start(estimate, hold):
    settings = OperatorSettings(cold_start_estimate_seconds=estimate)
    args = RouterArgs.parse(router_container(objects(settings=settings))["args"])
    assert args.max_hold_seconds == hold
    assert args.max_hold_seconds > estimate


def test_the_grace_period_outlasts_the_drain():
    rendered = objects()
    args = RouterArgs.parse(router_container(rendered)["args"])
    grace = router_pod(rendered)["spec"]["terminationGracePeriodSeconds"]
    assert grace > args.drain_delay_seconds + args.drain_timeout_seconds


def test_the_router_runs_from_the_runtime_image():
    settings = OperatorSettings(runtime_image="registry.example.com/modelfleet-runtime:9")
    assert router_container(objects(settings=settings))["image"] == "registry.example.com/modelfleet-runtime:9"


# --- the router pods ----------------------------------------------------------------------------------------


def test_probes_are_on_the_admin_port():
    container = router_container(objects())
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}


def test_the_router_runs_restricted_and_away_from_the_api():
    pod = router_pod(objects())["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"] == restricted()
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}  # its root filesystem is read-only


def test_the_cpu_request_is_the_operators_setting():
    assert router_container(objects())["resources"]["requests"]["cpu"] == "1"
    small = OperatorSettings(router=RouterSettings(cpu_request="100m"))
    assert router_container(objects(settings=small))["resources"]["requests"]["cpu"] == "100m"


def test_router_pods_are_placed_by_the_operators_settings_not_the_gpu_pools():
    pod = router_pod(objects())["spec"]
    assert not {"nodeSelector", "tolerations", "affinity"} & pod.keys()  # no GPU toleration: off GPU nodes
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "type", "operator": "NotIn", "values": ["kwok"]}]}]}}}
    settings = OperatorSettings(router=RouterSettings(
        node_selector={"pool": "cpu"}, tolerations=[Toleration(key="dedicated", operator="Exists")],
        affinity=affinity))
    pod = router_pod(objects(settings=settings))["spec"]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert pod["affinity"] == affinity
    assert objects(settings=settings)[f"Deployment/{NAME}"]["spec"]["template"]["spec"]["nodeSelector"] != {
        "pool": "cpu"}


@pytest.mark.parametrize("changes, pods", [
    ({"replicas": 1}, 2),
    ({"replicas": 5}, 2),
    ({"replicas": 8}, 4),
    ({"replicas": 16}, 7),
    ({"replicas": 0}, 2),
    ({"autoscaling.enabled": True, "autoscaling.minReplicas": 1, "autoscaling.maxReplicas": 32}, 13),
    ({"autoscaling.enabled": True, "autoscaling.minReplicas": 1, "autoscaling.maxReplicas": 64, "replicas": 1}, 26),
], ids=["1", "5", "8", "16", "0", "autoscaled-32", "autoscaled-64"])
def test_router_pods_follow_the_fleet_as_docs_router_md_sizes_them(changes, pods):
    """docs/router.md's table: max(2, ceil(N / 2.5)), N the replicas or, autoscaled, maxReplicas."""
    resource = with_spec(MIXTRAL, **{"autoscaling.enabled": False, **changes})
    assert objects(resource)[f"Deployment/{NAME}-router"]["spec"]["replicas"] == pods


def test_the_router_budget_lets_one_router_pod_go_at_a_time():
    rendered = objects()
    spec = rendered[f"PodDisruptionBudget/{NAME}-router"]["spec"]
    assert spec["maxUnavailable"] == 1
    assert_selector_matches(spec["selector"]["matchLabels"], router_pod(rendered)["metadata"]["labels"])
    engine_budget = rendered[f"PodDisruptionBudget/{NAME}"]["spec"]["selector"]["matchLabels"]
    assert any(router_pod(rendered)["metadata"]["labels"].get(k) != v for k, v in engine_budget.items())


def test_router_objects_carry_the_router_component_and_the_owners_label():
    rendered = objects()
    for key in (f"Deployment/{NAME}-router", f"PodDisruptionBudget/{NAME}-router"):
        labels = rendered[key]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "router"
        assert labels["modelfleet.io/llmdeployment"] == NAME


@pytest.mark.parametrize("mode", ["leastInFlight", "prefix"])
def test_the_api_server_would_accept_the_router_objects(mode):
    for key, obj in routed(mode).items():
        if key.endswith(("-router", "-engines")) or key == f"Service/{NAME}":
            assert_acceptable(obj)


def test_until_a_router_pod_is_available_the_service_stays_on_the_engines():
    waiting = {f"{o['kind']}/{o['metadata']['name']}": o
               for o in render_all(MIXTRAL, MIXTRAL_PLAN, SETTINGS, router_ready=False)}
    assert waiting[f"Service/{NAME}"]["spec"]["selector"] == selector_labels(NAME)
    assert f"Deployment/{NAME}-router" in waiting  # the router itself is rendered all the same


@pytest.mark.parametrize("live, available", [
    (None, False),
    ({"status": {}}, False),
    ({"status": {"replicas": 2, "availableReplicas": 0}}, False),
    ({"status": {"replicas": 2, "availableReplicas": 1}}, True),
])
def test_a_router_is_available_with_one_available_pod(live, available):
    assert router_available(live) is available


def test_router_pods_are_not_engine_pods_to_the_operator():
    """The autoscaler and the status read the engine pods (its watch's selector, status.selector): never a
    router pod."""
    from modelfleet.render import is_engine_pod, is_router_pod, selector_string
    labels = router_pod(objects())["metadata"]["labels"]
    assert not is_engine_pod({"metadata": {"labels": labels}})
    assert is_router_pod({"metadata": {"labels": labels}})  # the autoscaler reads its held count (minReplicas 0)
    required = dict(term.split("=") for term in selector_string(NAME).split(","))
    assert any(labels.get(k) != v for k, v in required.items())
