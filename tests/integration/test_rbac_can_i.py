"""The chart's RBAC in each install mode, asked of a real API server: `kubectl auth can-i` as the operator's
ServiceAccount, for what it must be able to do and what it must not (issue 28: least privilege, tested).

Each test applies only the chart's RBAC and ServiceAccount (`helm template --show-only`), under a release name
of its own, so the session's chart release and its cluster-wide RBAC stay as they are; the objects are deleted
afterwards. docs/install.md's permission table is the same chart's, generated (tests/unit/test_rbac_table.py).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config as kube_config
from kubernetes.dynamic import DynamicClient

from localcluster.operator import CHART
from modelfleet.api.hub_token import HUB_TOKEN_LABEL, TokenReader
from modelfleet.controller.kube import Forbidden, Kube
from support.waiting import wait_for

# chart_release: the CRD, as users get it. Without it kubectl 1.34 answered "no" for llmdeployments.modelfleet.io
# whatever the RBAC (it resolves the resource type by discovery first).
pytestmark = [pytest.mark.controlplane, pytest.mark.usefixtures("chart_release")]

CHILDREN = ("deployments.apps", "daemonsets.apps", "services", "persistentvolumeclaims",
            "poddisruptionbudgets.policy")
CLUSTER_READS = ("nodes", "namespaces", "customresourcedefinitions.apiextensions.k8s.io")
# verb, resource[/subresource], namespace (None: a cluster-scoped resource; "*": across all namespaces)
Ask = tuple[str, str, str | None]


@dataclass
class Release:
    """The chart's RBAC applied under one release name; ``can_i`` asks as its ServiceAccount."""

    cluster: object
    name: str
    namespace: str
    manifests: str

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def can_i(self, ask: Ask) -> bool:
        verb, resource, namespace = ask
        resource, _, subresource = resource.partition("/")
        # The groups a real ServiceAccount token carries, so the answer is the one its requests get.
        done = self.cluster.kubectl(
            "auth", "can-i", verb, resource, *([f"--subresource={subresource}"] if subresource else []),
            *(["--all-namespaces"] if namespace == "*" else ["-n", namespace] if namespace else []),
            f"--as={self.user}", "--as-group=system:serviceaccounts",
            f"--as-group=system:serviceaccounts:{self.namespace}", check=False)
        assert done.stdout.strip() in ("yes", "no"), done.stdout + done.stderr
        return done.stdout.strip() == "yes"

    def answers(self, asks: list[Ask]) -> dict[Ask, bool]:
        with ThreadPoolExecutor(4) as pool:
            return dict(zip(asks, pool.map(self.can_i, asks), strict=True))

    def reader(self) -> TokenReader:
        return TokenReader.of_release(self.name, self.namespace)


@contextmanager
def release_with(cluster, namespace: str, values: dict) -> Iterator[Release]:
    name = f"modelfleet-cani-{uuid.uuid4().hex[:6]}"
    manifests = subprocess.run(
        [str(cluster.binary("helm")), "template", name, str(CHART), "--namespace", namespace, "--values", "-",
         "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"],
        input=yaml.safe_dump(values), check=True, capture_output=True, text=True, timeout=60).stdout
    cluster.kubectl("apply", "-f", "-", input=manifests)
    release = Release(cluster, name, namespace, manifests)
    try:
        # The API server's RBAC authorizer learns new bindings from a watch: answer only once it has.
        wait_for("the new ClusterRoleBinding to be in force", lambda: release.can_i(("list", "nodes", None)), 30)
        yield release
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=manifests)


@pytest.fixture
def tenant(cluster) -> Iterator[str]:
    """A second namespace: a tenant's, where the operator serves LLMDeployments."""
    name = f"t-cani-tenant-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def operator_work(namespace: str) -> list[Ask]:
    """Every request the operator makes for an LLMDeployment in ``namespace`` (controller/kube.py, act.py,
    events.py, cold_start.py and kopf's watches)."""
    return [
        *((verb, "llmdeployments.modelfleet.io", namespace) for verb in ("get", "list", "watch")),
        ("patch", "llmdeployments.modelfleet.io/status", namespace),
        *((verb, child, namespace) for child in CHILDREN
          for verb in ("get", "list", "watch", "create", "patch", "delete")),
        ("list", "pods", namespace), ("watch", "pods", namespace), ("get", "pods/log", namespace),
        ("list", "events", namespace), ("create", "events", namespace),
    ]


CLUSTER_WORK: list[Ask] = [(verb, resource, None) for resource in CLUSTER_READS for verb in ("list", "watch")]


def never(namespace: str) -> list[Ask]:
    """What the operator never does, in any mode, anywhere."""
    return [
        *((verb, "llmdeployments.modelfleet.io", namespace) for verb in ("create", "update", "patch", "delete")),
        ("update", "llmdeployments.modelfleet.io/status", namespace),
        ("list", "secrets", namespace), ("watch", "secrets", namespace),
        ("create", "pods", namespace), ("delete", "pods", namespace), ("update", "deployments.apps", namespace),
        ("create", "events.events.k8s.io", namespace), ("patch", "events", namespace),
        ("create", "rolebindings.rbac.authorization.k8s.io", namespace),
        ("patch", "nodes", None), ("delete", "namespaces", None), ("create", "clusterrolebindings", None),
        ("get", "nodes/proxy", None),
    ]


def assert_answers(release: Release, expected: dict[Ask, bool]) -> None:
    got = release.answers(list(expected))
    wrong = {ask: answer for ask, answer in got.items() if answer != expected[ask]}
    table = "\n".join(f"{'yes' if answer else 'no ':3}  {ask[0]} {ask[1]} in {ask[2] or '(cluster)'}"
                      for ask, answer in got.items())
    print(f"\n{release.name}: kubectl auth can-i --as={release.user}\n{table}")
    assert not wrong, f"answers differ from the expected ones (got): {wrong}"


def bind_reader(cluster, release: Release, namespace: str) -> None:
    """What the namespace's admin runs: the command a TokenSecretForbidden condition gives, as given."""
    cluster.kubectl(*release.reader().grant_command(namespace).split()[1:])
    wait_for("the RoleBinding to be in force", lambda: release.can_i(("get", "secrets", namespace)), 30)


def test_default_install_reads_no_secret_until_a_namespace_binds_the_reader(cluster, namespace, tenant, tmp_path):
    with release_with(cluster, namespace, {}) as release:
        assert_answers(release, {
            **dict.fromkeys(operator_work(tenant), True), **dict.fromkeys(CLUSTER_WORK, True),
            **dict.fromkeys(operator_work("kube-system"), True),  # cluster-wide: every namespace, as documented
            **dict.fromkeys(never(tenant), False),
            ("get", "secrets", tenant): False, ("get", "secrets", "kube-system"): False,
            ("get", "secrets", namespace): False,
        })
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf", "labels": {HUB_TOKEN_LABEL: "true"}},
                  "stringData": {"token": "hf_not_a_real_token"}}
        cluster.kubectl("apply", "-n", tenant, "-f", "-", input=yaml.safe_dump(secret))
        kube = service_account_kube(cluster, release, tmp_path)
        with pytest.raises(Forbidden):
            kube.secret_labels(tenant, "hf")

        bind_reader(cluster, release, tenant)
        assert_answers(release, {
            ("get", "secrets", tenant): True,  # there, and only there
            ("list", "secrets", tenant): False, ("watch", "secrets", tenant): False,
            ("get", "secrets", "kube-system"): False, ("get", "secrets", namespace): False,
        })
        # The operator's own read: metadata only (Kube.secret_labels refuses any answer but a
        # PartialObjectMetadata, which has no data), and the label is there.
        assert kube.secret_labels(tenant, "hf") == {HUB_TOKEN_LABEL: "true"}
        assert kube.secret_labels(tenant, "absent") is None


def test_watch_namespaces_install_acts_in_the_watched_namespaces_only(cluster, namespace, tenant):
    with release_with(cluster, namespace, {"watchNamespaces": [tenant]}) as release:
        assert_answers(release, {
            **dict.fromkeys(operator_work(tenant), True), **dict.fromkeys(CLUSTER_WORK, True),
            **dict.fromkeys(never(tenant), False),
            # Unwatched namespaces: nothing at all, kube-system included.
            **dict.fromkeys(operator_work("kube-system"), False), **dict.fromkeys(operator_work("default"), False),
            ("create", "pods", "default"): False,
            ("list", "deployments.apps", "*"): False,  # nor any list across namespaces
            ("get", "secrets", tenant): False, ("get", "secrets", "kube-system"): False,
        })
        bind_reader(cluster, release, tenant)
        assert_answers(release, {("get", "secrets", tenant): True, ("get", "secrets", "default"): False})


def test_managed_namespaces_install_reads_token_secrets_wherever_it_manages(cluster, namespace, tenant):
    with release_with(cluster, namespace, {"tokenSecretAccess": "managedNamespaces"}) as release:
        assert f"name: {release.name}-hub-token-reader" not in release.manifests
        assert_answers(release, {
            **dict.fromkeys(operator_work(tenant), True), **dict.fromkeys(CLUSTER_WORK, True),
            **dict.fromkeys(never(tenant), False),
            # What this mode grants, and why it is not the default: get on every Secret, kube-system's too.
            ("get", "secrets", tenant): True, ("get", "secrets", "kube-system"): True,
        })


def service_account_kube(cluster, release: Release, tmp_path: Path) -> Kube:
    """The operator's client (``controller.kube``) authenticated as the release's ServiceAccount."""
    token = cluster.kubectl("create", "token", release.name, "-n", release.namespace, "--duration=10m").stdout.strip()
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    user = config["contexts"][0]["context"]["user"]
    config["users"] = [{"name": user, "user": {"token": token}}]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    api: client.ApiClient = kube_config.new_client_from_config(config_file=str(path))
    return Kube(dynamic=DynamicClient(api))
