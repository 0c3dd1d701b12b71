"""Where the e2e suite runs: one suite, two kinds of cluster, chosen by environment.

  MODELFLEET_E2E_KUBECONFIG    the target's kubeconfig. Default: the local control plane
                               (e2e/local), started if it is down and stopped again after.
  MODELFLEET_E2E_OPERATOR      in-cluster (default): the chart's Deployment runs it from its
                               image (on the local cluster: on the real node, from the image
                               built there, with e2e/local/values.yaml); process: `modelfleet
                               run` here, with a token of the chart's ServiceAccount.
  MODELFLEET_E2E_ENGINE_IMAGE  spec.engine.image of the test model (kind: e2e/kind/fake-engine).
  MODELFLEET_E2E_VALUES        a values file, used only when the suite installs the chart itself.

For the real engine's tests (test_real_node.py) on kind, e2e/kind/run.sh also sets:
  MODELFLEET_E2E_VLLM_IMAGE    the vLLM CPU engine image it loaded into the engine node.
  MODELFLEET_E2E_HUB           host:port where the cluster's pods reach this machine (the kind
                               network's gateway; the chart's hubEndpoint): the Hub test server's.
  MODELFLEET_E2E_ENGINE_NODE   the worker of pool `local` (default modelfleet-e2e-worker).
The local cluster's real node is on this machine: its addresses are routed here, its files are
here. A kind node is a container behind podman's or Docker's bridge: the suite reaches pods and
Services through `kubectl port-forward` (``reach``) and the node's files through `podman exec` or
`docker exec` (``Target.on_engine_node``), as a user's CI can.

The suite refuses any kube context but the two test clusters' (modelfleet-local and
kind-modelfleet-e2e) and any API server not on loopback: it creates and deletes
namespaces and may install the chart, and must never do that to a real cluster.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import localcluster
from localcluster import settings as local_settings
from support.operator_process import (
    IDLE_CHART_OPERATOR,
    OPERATOR_NAMESPACE,
    RELEASE,
    OperatorProcess,
    install_chart,
    service_account_kubeconfig,
)

ROOT = Path(__file__).resolve().parents[2]

LOCAL_CONTEXT = localcluster.CONTEXT
KIND_CONTEXT = "kind-modelfleet-e2e"  # e2e/kind/run.sh names its cluster modelfleet-e2e
KIND_ENGINE_NODE = "modelfleet-e2e-worker"  # run.sh: the worker of pool `local`, where the engine image is
OPERATOR_MODES = ("process", "in-cluster")
CRD = "customresourcedefinitions.apiextensions.k8s.io/llmdeployments.modelfleet.io"
LOCAL_VALUES = ROOT / "e2e" / "local" / "values.yaml"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: the cluster-agnostic end-to-end suite (e2e/suite)")


@dataclass(frozen=True)
class Target:
    kubeconfig: Path
    context: str
    operator: str  # one of OPERATOR_MODES
    engine_image: str | None

    @property
    def pods_run(self) -> bool:
        """The h100 pool's containers really run (kind's nodes); on the local cluster it is kwok's,
        which only pretends (there, the real node's own pool runs them: test_real_node.py)."""
        return self.context == KIND_CONTEXT

    @property
    def is_kind(self) -> bool:
        return self.context == KIND_CONTEXT

    @property
    def engine_node(self) -> str:
        """The node the real engine's pods run on: the local cluster's real node, or kind's pool-`local` worker."""
        if self.is_kind:
            return os.environ.get("MODELFLEET_E2E_ENGINE_NODE", KIND_ENGINE_NODE)
        return local_settings.REAL_NODE_NAME

    def hub_address(self) -> tuple[str, int]:
        """Where the cluster's pods reach the Hub test server (the chart's hubEndpoint): the real node's
        bridge, or on kind the address run.sh found (MODELFLEET_E2E_HUB)."""
        if not self.is_kind:
            return local_settings.BRIDGE_IP, local_settings.HUB_PORT
        address = os.environ.get("MODELFLEET_E2E_HUB")
        if not address:
            raise RuntimeError("MODELFLEET_E2E_HUB is not set: on kind, e2e/kind/run.sh sets it (the kind "
                               "network's gateway, the chart's hubEndpoint)")
        host, _, port = address.rpartition(":")
        return host, int(port)

    def on_engine_node(self, *command: str) -> subprocess.CompletedProcess:
        """``command`` where the engine pods' node runs: here for the real node, in the node's container on kind."""
        prefix = []
        if self.is_kind:
            prefix = [os.environ.get("KIND_EXPERIMENTAL_PROVIDER") or "docker", "exec", self.engine_node]
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=60)

    def binary(self, name: str) -> Path:
        if self.context == LOCAL_CONTEXT:
            return localcluster.binary(name)  # the versions e2e/local pins
        found = shutil.which(name)
        if not found:
            raise RuntimeError(f"{name} is not on PATH")
        return Path(found)

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary("kubectl")), f"--kubeconfig={self.kubeconfig}",
                               f"--context={self.context}", *args],
                              input=input, capture_output=True, text=True, check=check, timeout=timeout)


def guard(kubeconfig: Path) -> str:
    """The kubeconfig's context, if it is a test cluster's on loopback; otherwise refuse."""
    config = yaml.safe_load(kubeconfig.read_text())
    name = config.get("current-context")
    if name not in (LOCAL_CONTEXT, KIND_CONTEXT):
        raise RuntimeError(f"refusing kube context {name!r} in {kubeconfig}: the e2e suite runs only against "
                           f"{LOCAL_CONTEXT!r} (e2e/local) or {KIND_CONTEXT!r} (e2e/kind)")
    context = next(c["context"] for c in config["contexts"] if c["name"] == name)
    server = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"])
    host = urllib.parse.urlsplit(server).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RuntimeError(f"refusing API server {server}: not on loopback")
    return name


@pytest.fixture(scope="session")
def target():
    operator = os.environ.get("MODELFLEET_E2E_OPERATOR", "in-cluster")
    if operator not in OPERATOR_MODES:
        pytest.fail(f"MODELFLEET_E2E_OPERATOR={operator!r}: expected one of {OPERATOR_MODES}", pytrace=False)
    custom = os.environ.get("MODELFLEET_E2E_KUBECONFIG")
    kubeconfig = Path(custom) if custom else localcluster.kubeconfig_path()
    started = False
    try:
        if not custom and not localcluster.is_up():
            localcluster.up()
            started = True
        context = guard(kubeconfig)
    except Exception as e:  # noqa: BLE001 - no usable cluster is a failure, never a skip
        pytest.fail(f"e2e target unavailable: {type(e).__name__}: {e}", pytrace=False)
    yield Target(kubeconfig=kubeconfig, context=context, operator=operator,
                 engine_image=os.environ.get("MODELFLEET_E2E_ENGINE_IMAGE") or None)
    if started and not os.environ.get("MODELFLEET_KEEP_CLUSTER"):
        localcluster.down()


class Reach:
    """URLs, from this process, of a pod's or a Service's port.

    The local cluster routes its pod and Service addresses to the real node's bridge on this machine:
    the URL is the address itself, and a Service's goes through kube-proxy. kind's are inside its nodes:
    each (object, port) gets a `kubectl port-forward` (kept while it runs; a Service's forwards to one of
    its ready pods, as kubectl picks it), stopped when the session ends.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.forwards: dict[tuple[str, str, str, int], tuple[subprocess.Popen, int]] = {}
        self.logs = Path(tempfile.mkdtemp(prefix="e2e-port-forward-"))

    def url(self, obj: dict, port: int) -> str:
        kind, meta = obj["kind"], obj["metadata"]
        if not self.target.is_kind:
            address = obj["status"]["podIP"] if kind == "Pod" else obj["spec"]["clusterIP"]
            return f"http://{address}:{port}"
        key = (kind, meta["namespace"], meta["name"], port)
        forward = self.forwards.get(key)
        if forward is None or forward[0].poll() is not None:
            forward = self.forwards[key] = self._forward(*key)
        return f"http://127.0.0.1:{forward[1]}"

    def _forward(self, kind: str, namespace: str, name: str, port: int) -> tuple[subprocess.Popen, int]:
        log = self.logs / f"{namespace}-{kind}-{name}-{port}.log"
        with log.open("w") as out:  # a file, not a pipe: kubectl writes a line per connection, and a full pipe blocks
            process = subprocess.Popen(
                [str(self.target.binary("kubectl")), f"--kubeconfig={self.target.kubeconfig}",
                 f"--context={self.target.context}", "port-forward", "-n", namespace, "--address", "127.0.0.1",
                 f"{'service' if kind == 'Service' else 'pod'}/{name}", f":{port}"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (found := re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"kubectl port-forward {kind}/{name}:{port}: {log.read_text()[-1000:]}")
            time.sleep(0.1)
        return process, int(found.group(1))

    def close(self) -> None:
        for process, _ in self.forwards.values():
            process.terminate()
        for process, _ in self.forwards.values():
            process.wait(timeout=10)
        shutil.rmtree(self.logs, ignore_errors=True)


@pytest.fixture(scope="session")
def reach(target):
    """``reach.url(pod_or_service, port)``: a URL of it from this process (see Reach)."""
    reacher = Reach(target)
    yield reacher
    reacher.close()


def install_suite_chart(target: Target) -> None:
    """The chart as the suite installs it (again, after a test that installed it otherwise)."""
    values = os.environ.get("MODELFLEET_E2E_VALUES") or (
        str(LOCAL_VALUES) if target.context == LOCAL_CONTEXT and target.operator == "in-cluster" else None)
    # Without values on the local cluster the operator runs here as a process: the chart's pod must idle.
    placement = ["-f", values] if values else list(IDLE_CHART_OPERATOR) if target.context == LOCAL_CONTEXT else []
    install_chart(target.binary("helm"), target.kubeconfig, "--kube-context", target.context, *placement)


@pytest.fixture(scope="session")
def reinstall_chart(target):
    """``reinstall_chart()``: the chart back as the suite installs it, after a test installed it otherwise."""
    return lambda: install_suite_chart(target)


@pytest.fixture(scope="session")
def chart(target):
    """The chart: on the local cluster installed here with e2e/local/values.yaml (or
    MODELFLEET_E2E_VALUES); elsewhere used as installed (e2e/kind/run.sh installs it with its values)."""
    helm = target.binary("helm")
    status = subprocess.run([str(helm), "status", RELEASE, "--namespace", OPERATOR_NAMESPACE,
                             "--kubeconfig", str(target.kubeconfig), "--kube-context", target.context],
                            capture_output=True, text=True, timeout=60)
    if status.returncode != 0 or target.context == LOCAL_CONTEXT:
        install_suite_chart(target)
    target.kubectl("wait", "--for=condition=Established", CRD, "--timeout=60s")
    if target.operator == "in-cluster":
        target.kubectl("rollout", "status", f"deployment/{RELEASE}", "-n", OPERATOR_NAMESPACE, "--timeout=180s",
                       timeout=200)


@pytest.fixture(scope="module")
def operator(target, chart, tmp_path_factory):
    """The operator at work: a local process (kwok), or the chart's Deployment already running (kind)."""
    if target.operator == "in-cluster":
        yield None
        return
    tmp = tmp_path_factory.mktemp("operator")
    kubeconfig = service_account_kubeconfig(target.binary("kubectl"), target.kubeconfig, tmp / "kubeconfig")
    process = OperatorProcess(kubeconfig=kubeconfig, log=tmp / "operator.log").start()
    yield process
    process.stop()


@pytest.fixture
def namespace(target, request):
    """A fresh namespace (labelled for e2e/kind's admission policy), deleted after the test."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40].strip("-")
    name = f"e2e-{slug}-{uuid.uuid4().hex[:6]}"
    target.kubectl("create", "namespace", name)
    target.kubectl("label", "namespace", name, "modelfleet.io/e2e=true")
    deadline = time.monotonic() + 30
    # Pods need the namespace's default ServiceAccount (ServiceAccount admission).
    while target.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name} after 30s")
        time.sleep(0.5)
    yield name
    target.kubectl("delete", "namespace", name, "--wait=false")
