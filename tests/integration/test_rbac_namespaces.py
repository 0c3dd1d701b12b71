"""The chart's RBAC with ``watchNamespaces`` set, on a real API server: the operator's ServiceAccount
may write in the watched namespaces and nowhere else (issue 16).

The chart is installed again with ``watchNamespaces: [<the test's namespace>]``
and put back to its defaults afterwards, so the session's other tests find
the cluster-wide RBAC they expect. Requests are dry runs: they pass
authentication, authorization and admission, and create nothing.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from kubernetes import client, config as kube_config
from kubernetes.client.rest import ApiException

from localcluster.operator import (
    IDLE_CHART_OPERATOR,
    OPERATOR_NAMESPACE,
    OperatorProcess,
    install_chart,
    service_account_kubeconfig,
)
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "rbac-probe"},
    "spec": {
        "selector": {"matchLabels": {"app": "rbac-probe"}},
        "template": {"metadata": {"labels": {"app": "rbac-probe"}},
                     "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}},
    },
}
DAEMONSET = {**copy.deepcopy(DEPLOYMENT), "kind": "DaemonSet"}


@pytest.fixture
def watching_one_namespace(cluster, chart_release, namespace, tmp_path):
    """The chart with watchNamespaces=[namespace]; the operator's ServiceAccount's API client."""
    helm = cluster.binary("helm")
    install_chart(helm, cluster.kubeconfig, *IDLE_CHART_OPERATOR, "--set", f"watchNamespaces={{{namespace}}}")
    try:
        kubeconfig = service_account_kubeconfig(cluster.binary("kubectl"), cluster.kubeconfig, tmp_path / "sa")
        api = kube_config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield api, kubeconfig
        finally:
            api.close()
    finally:
        install_chart(helm, cluster.kubeconfig, *IDLE_CHART_OPERATOR)  # the defaults again: cluster-wide RBAC


def refused(call) -> ApiException:
    with pytest.raises(ApiException) as raised:
        call()
    assert raised.value.status == 403, raised.value.body
    return raised.value


def test_the_operator_watching_one_namespace_cannot_create_workloads_in_kube_system(watching_one_namespace, namespace):
    api, _ = watching_one_namespace
    apps = client.AppsV1Api(api)
    # In the watched namespace: allowed.
    apps.create_namespaced_deployment(namespace, copy.deepcopy(DEPLOYMENT), dry_run="All")
    apps.create_namespaced_daemon_set(namespace, copy.deepcopy(DAEMONSET), dry_run="All")
    # Anywhere else: refused, by the API server, for the operator's own ServiceAccount.
    for other in ("kube-system", OPERATOR_NAMESPACE):
        error = refused(
            lambda ns=other: apps.create_namespaced_deployment(ns, copy.deepcopy(DEPLOYMENT), dry_run="All"))
        message = json.loads(error.body)["message"]
        assert f'cannot create resource "deployments" in API group "apps" in the namespace "{other}"' in message
        refused(lambda ns=other: apps.create_namespaced_daemon_set(ns, copy.deepcopy(DAEMONSET), dry_run="All"))
    refused(lambda: client.CoreV1Api(api).create_namespaced_service(
        "kube-system", {"metadata": {"name": "rbac-probe"}, "spec": {"ports": [{"port": 80}]}}, dry_run="All"))
    # Nor list workloads cluster-wide.
    refused(lambda: apps.list_deployment_for_all_namespaces())


def test_what_stays_cluster_wide_is_read_only(watching_one_namespace):
    api, _ = watching_one_namespace
    review = client.AuthorizationV1Api(api)

    def allowed(verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        attributes = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attributes["namespace"] = namespace
        body = {"spec": {"resourceAttributes": attributes}}
        return review.create_self_subject_access_review(body).status.allowed

    assert allowed("list", "nodes")  # pool discovery
    assert allowed("list", "customresourcedefinitions", "apiextensions.k8s.io")  # kopf's resource scan
    assert not allowed("patch", "nodes")
    assert not allowed("create", "events", namespace="kube-system")
    assert not allowed("list", "pods", namespace="kube-system")


def test_the_operator_still_serves_its_namespace_with_namespaced_rbac(cluster, watching_one_namespace, namespace,
                                                                      tmp_path):
    """Everything the operator does for an LLMDeployment goes through the Role in the watched namespace.

    Needs every loop of the operator to list per watched namespace (issue 16's
    controller item): a cluster-wide list is refused by this RBAC and logged.
    """
    _, kubeconfig = watching_one_namespace
    operator = OperatorProcess(kubeconfig=kubeconfig, log=tmp_path / "operator.log", namespaces=[namespace]).start()
    try:
        apps = client.AppsV1Api(cluster.api)
        document = small_mistral(replicas=1)
        document["metadata"]["namespace"] = namespace
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
        wait_for("the Deployment in the watched namespace",
                 lambda: apps.list_namespaced_deployment(namespace, label_selector="modelfleet.io/llmdeployment")
                 .items, 60)
        assert "forbidden" not in operator.tail(400).lower(), operator.tail(80)
    finally:
        operator.stop()
