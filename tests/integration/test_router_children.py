"""The router's children on a real API server (spec.routing; docs/router.md, "In the cluster").

kwok runs no container, so no request is routed here: what is proven is that
the API server accepts the router's Deployment, its PodDisruptionBudget and
the headless Service as rendered, that they are the LLMDeployment's (owner
references: the garbage collector takes them with it), that the user's
Service switches its selector, and only its selector, when the mode changes,
and that mode ``service`` deletes the router's objects and the default brings
them back. Routing requests through it: e2e/suite/test_real_node.py.
"""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client

from modelfleet.api.runtime_args import RouterArgs
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

NAME = "mistral"
ROUTER_CHILDREN = {("Deployment", f"{NAME}-router"), ("PodDisruptionBudget", f"{NAME}-router"),
                   ("Service", f"{NAME}-engines")}
SETTLE_SECONDS = 60


def apply(cluster, namespace: str, document: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def children(cluster, namespace: str) -> dict[tuple[str, str], dict]:
    out = cluster.kubectl("get", "deployments,services,poddisruptionbudgets", "-n", namespace,
                          "-l", f"modelfleet.io/llmdeployment={NAME}", "-o", "json").stdout
    return {(item["kind"], item["metadata"]["name"]): item for item in json.loads(out)["items"]}


def owner_uid(cluster, namespace: str) -> str:
    return json.loads(cluster.kubectl("get", "llmd", NAME, "-n", namespace, "-o", "json").stdout)["metadata"]["uid"]


def service_component(cluster, namespace: str) -> str | None:
    service = children(cluster, namespace).get(("Service", NAME))
    return None if service is None else service["spec"]["selector"].get("app.kubernetes.io/component")


def with_routing(mode: str | None) -> dict:
    document = small_mistral(NAME, replicas=2)
    if mode is not None:
        document["spec"]["routing"] = {"mode": mode}
    return document


def test_the_router_children_are_accepted_owned_and_follow_the_routing_mode(cluster, namespace, operator):
    apply(cluster, namespace, with_routing(None))  # the default: leastInFlight
    everything = ROUTER_CHILDREN | {("Service", NAME)}
    found = wait_for("the router's children and the Service", lambda: (lambda c: c if everything <= c.keys() else None)(
        children(cluster, namespace)), SETTLE_SECONDS)
    uid = owner_uid(cluster, namespace)
    for key in everything:
        (ref,) = found[key]["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"], ref["controller"]) == ("LLMDeployment", uid, True), key

    router = found[("Deployment", f"{NAME}-router")]
    assert router["spec"]["replicas"] == 2
    (container,) = router["spec"]["template"]["spec"]["containers"]
    args = RouterArgs.parse(container["args"])  # as the API server stored it, the program parses it
    assert args.endpoints_dns == f"{NAME}-engines.{namespace}.svc" and args.routing == "least-in-flight"
    engines = found[("Service", f"{NAME}-engines")]["spec"]
    assert engines["clusterIP"] == "None" and not engines.get("publishNotReadyAddresses", False)
    assert engines["selector"]["app.kubernetes.io/component"] == "engine"
    assert found[("PodDisruptionBudget", f"{NAME}-router")]["spec"]["maxUnavailable"] == 1
    # The Service selects the router pods once one is available (kwok reports them Ready), the engines until then.
    wait_for("the Service on the router", lambda: service_component(cluster, namespace) == "router", SETTLE_SECONDS)
    service = children(cluster, namespace)[("Service", NAME)]
    cluster_ip, ports = service["spec"]["clusterIP"], service["spec"]["ports"]

    # The router pods exist (on kwok's cpu node: localcluster.operator.PROCESS_SETTINGS), and the Service's
    # selector is theirs.
    core = client.CoreV1Api(cluster.api)
    selector = ",".join(f"{k}={v}" for k, v in service["spec"]["selector"].items())
    pods = wait_for("two router pods", lambda: (lambda p: p if len(p) == 2 else None)(
        core.list_namespaced_pod(namespace, label_selector=selector).items), SETTLE_SECONDS)
    assert all(p.metadata.labels["app.kubernetes.io/component"] == "router" for p in pods)
    assert all(p.spec.node_selector == {"type": "kwok"} for p in pods)

    # Prefix affinity: the same children, the router's flag changes.
    apply(cluster, namespace, with_routing("prefix"))
    wait_for("--routing prefix", lambda: RouterArgs.parse(children(cluster, namespace)[
        ("Deployment", f"{NAME}-router")]["spec"]["template"]["spec"]["containers"][0]["args"]).routing == "prefix",
        SETTLE_SECONDS)

    # service: the Service selects the engine pods, the router's objects go.
    apply(cluster, namespace, with_routing("service"))
    wait_for("the Service on the engines", lambda: service_component(cluster, namespace) == "engine", SETTLE_SECONDS)
    wait_for("the router's children deleted",
             lambda: not ROUTER_CHILDREN & children(cluster, namespace).keys(), SETTLE_SECONDS)
    plain = children(cluster, namespace)[("Service", NAME)]
    assert (plain["spec"]["clusterIP"], plain["spec"]["ports"]) == (cluster_ip, ports)  # the same Service

    # And back: the router's objects return, the Service selects them again, still the same Service.
    apply(cluster, namespace, with_routing("leastInFlight"))
    wait_for("the Service on the router", lambda: service_component(cluster, namespace) == "router", SETTLE_SECONDS)
    wait_for("the router's children again",
             lambda: ROUTER_CHILDREN <= children(cluster, namespace).keys(), SETTLE_SECONDS)
    assert children(cluster, namespace)[("Service", NAME)]["spec"]["clusterIP"] == cluster_ip
