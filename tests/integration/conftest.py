"""Fixtures for control-plane tests: a real API server (e2e/local), never a mock.

`cluster` (session) starts the local control plane unless it is up already
and stops it again at the end if it started it (keep it with
MODELFLEET_KEEP_CLUSTER=1). It refuses any kube context other than
modelfleet-local and any server not on loopback, so a test can never touch
a real cluster. If the control plane cannot start, tests fail (in CI and
everywhere else): deselect them with `-m "not controlplane"` instead.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import pathlib
import subprocess
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import pytest
import yaml

import localcluster
from localcluster import nodes as node_layout
from support.operator_process import chart_release, start_operator  # noqa: F401  (chart_release: a fixture)

REPO = pathlib.Path(__file__).resolve().parents[2]


ALLOWED_CONTEXT = localcluster.CONTEXT
# Set once guard_kubeconfig passed: failure dumps talk to this cluster only.
_GUARDED: list[pathlib.Path] = []


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "controlplane: runs against the local control plane (e2e/local); starts it when needed")


def pytest_collection_modifyitems(session, config, items):
    """Tests that stop and start the whole local cluster run first, before any test installs
    anything a later one relies on (the cluster fixture is shared by the session); tests that stop
    the API server run last, so nothing after them meets nodes and pods the outage marked NotReady."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("cluster_restart") else
               2 if item.get_closest_marker("api_outage") else 1)


def guard_kubeconfig(path: pathlib.Path) -> None:
    """Refuse anything but the modelfleet-local context on a loopback server."""
    cfg = yaml.safe_load(path.read_text())
    context_name = cfg.get("current-context")
    if context_name != ALLOWED_CONTEXT:
        raise RuntimeError(f"refusing kube context {context_name!r} in {path}: tests only run against "
                           f"{ALLOWED_CONTEXT!r} (the local control plane)")
    context = next(c["context"] for c in cfg["contexts"] if c["name"] == context_name)
    server = next(c["cluster"]["server"] for c in cfg["clusters"] if c["name"] == context["cluster"])
    host = urllib.parse.urlsplit(server).hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback:
        raise RuntimeError(f"refusing API server {server}: not on loopback")


@dataclass
class Cluster:
    kubeconfig: pathlib.Path
    api: object = field(repr=False)  # kubernetes.client.ApiClient
    layout: dict = field(default_factory=node_layout.load_layout, repr=False)

    def binary(self, name: str) -> pathlib.Path:
        return localcluster.binary(name)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary("kubectl")), f"--kubeconfig={self.kubeconfig}",
                               f"--context={ALLOWED_CONTEXT}", *args],
                              input=input, capture_output=True, text=True, check=check, timeout=120)

    def sync_nodes(self, layout: dict) -> list[str]:
        """Make the fake nodes match `layout` (see localcluster.nodes helpers)."""
        names = node_layout.sync(layout, self.kubeconfig)
        self.layout = layout
        return names


@pytest.fixture(scope="session")
def cluster():
    from kubernetes import config as kube_config

    custom = os.environ.get("MODELFLEET_TEST_KUBECONFIG")  # an already running modelfleet-local
    kubeconfig = pathlib.Path(custom or localcluster.kubeconfig_path())
    started = False
    try:
        if custom:
            guard_kubeconfig(kubeconfig)
        elif not localcluster.is_up():
            localcluster.up()
            started = True
        guard_kubeconfig(kubeconfig)
        _GUARDED.append(kubeconfig)
    except Exception as e:  # noqa: BLE001 - any failure to get a cluster is a test failure
        where = "in CI" if os.environ.get("CI") else "locally"
        pytest.fail(f"local control plane unavailable {where}: {type(e).__name__}: {e}\n"
                    f"logs: {localcluster.state_dir() / 'logs'}", pytrace=False)
    # Children of the tests (kubectl, helm, the operator) see only this cluster.
    saved = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(kubeconfig)
    api = kube_config.new_client_from_config(config_file=str(kubeconfig), context=ALLOWED_CONTEXT)
    c = Cluster(kubeconfig=kubeconfig, api=api)
    try:
        yield c
    finally:
        api.close()
        if c.layout != node_layout.load_layout():
            c.sync_nodes(node_layout.load_layout())
        if saved is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved
        if started and not os.environ.get("MODELFLEET_KEEP_CLUSTER"):
            localcluster.down()


@pytest.fixture
def namespace(cluster, request):
    """A fresh namespace for one test, deleted after it (without waiting)."""
    from kubernetes import client

    core = client.CoreV1Api(cluster.api)
    slug = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"modelfleet.io/test": "true"}}})
    # Pods need the namespace's default ServiceAccount (ServiceAccount admission).
    deadline = time.monotonic() + 30
    while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name} after 30s")
        time.sleep(0.2)
    request.node.stash[NAMESPACE_KEY] = name
    yield name
    core.delete_namespace(name)


NAMESPACE_KEY = pytest.StashKey[str]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach what a person would look at: nodes, pods, events and
    container logs (kwok runs no containers: logs say so) and the tail of the
    control-plane logs."""
    report = yield
    if report.failed and report.when in ("setup", "call") and "cluster" in item.fixturenames and _GUARDED:
        for title, text in _cluster_dump(item):
            report.sections.append((f"local cluster: {title}", text))
        operator = item.funcargs.get("operator")
        if operator is not None:
            report.sections.append(("modelfleet operator log (tail)", operator.tail(150)))
    return report


def _cluster_dump(item) -> list[tuple[str, str]]:
    try:
        kubeconfig = _GUARDED[-1]
        kubectl = [str(localcluster.binary("kubectl")), f"--kubeconfig={kubeconfig}", f"--context={ALLOWED_CONTEXT}"]

        def run(*args: str) -> str:
            p = subprocess.run([*kubectl, *args], capture_output=True, text=True, timeout=30)
            return (p.stdout + p.stderr).strip()

        ns = item.stash.get(NAMESPACE_KEY, None)
        scope = ["-n", ns] if ns else ["-A"]
        out = [("nodes", run("get", "nodes", "-o", "wide", "-L", "modelfleet.io/pool,nvidia.com/gpu.product")),
               ("pods", run("get", "pods", *scope, "-o", "wide")),
               ("events", run("get", "events", *scope, "--sort-by=.lastTimestamp")),
               ("workloads", run("get", "deployments,replicasets,services", *scope, "-o", "wide"))]
        if ns:
            out.append(("pod details", run("describe", "pods", "-n", ns)))
            pods = run("get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").split()
            logs = [f"--- {p}\n" + run("logs", "-n", ns, p, "--all-containers", "--tail=50") for p in pods[:10]]
            out.append(("container logs (kwok runs no containers: the API server has no logs to fetch)",
                        "\n".join(logs) or "(no pods)"))
        logs_dir = localcluster.state_dir() / "logs"
        for component in ("kube-scheduler", "kwok", "kube-controller-manager", "kube-apiserver"):
            lines = (logs_dir / f"{component}.log").read_text(errors="replace").splitlines()[-15:]
            out.append((f"{component} log (tail)", "\n".join(lines)))
        return out
    except Exception as e:  # noqa: BLE001 - a dump must never hide the real failure
        return [("dump failed", f"{type(e).__name__}: {e}")]


@pytest.fixture(scope="module")
def operator(cluster, chart_release, tmp_path_factory):  # noqa: F811  (chart_release is the imported fixture)
    """The operator, installed by the chart and running as its ServiceAccount, for one test module.

    Autoscaling rounds every second, so tests of the autoscaler need not wait.
    """
    process = start_operator(cluster, tmp_path_factory.mktemp("operator"), MODELFLEET_AUTOSCALE_SECONDS="1")
    yield process
    process.stop()
