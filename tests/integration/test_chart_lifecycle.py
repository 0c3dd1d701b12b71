"""The chart's life on a real API server through real Helm: install, upgrade, uninstall.

The release is the one every control-plane test uses (modelfleet in
modelfleet-system); each test leaves it installed at its default values, as
it found it. The operator runs as a local process with the chart
ServiceAccount's token (kwok pods run nothing), so the chart's RBAC is what
lets it work.
"""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager

import pytest
import yaml

from localcluster import audit
from support.operator_process import (
    IDLE_CHART_OPERATOR,
    OPERATOR_NAMESPACE,
    RELEASE,
    OperatorProcess,
    install_chart,
    service_account_kubeconfig,
)
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

CRD = "customresourcedefinitions.apiextensions.k8s.io/llmdeployments.modelfleet.io"
READY_TIMEOUT = 90
MISTRAL = small_mistral(replicas=1)


@pytest.fixture
def release(cluster):
    """The chart installed at its defaults, and put back so after the test (reinstalled if it was removed)."""
    install_chart(cluster.binary("helm"), cluster.kubeconfig, "--reset-values", *IDLE_CHART_OPERATOR)
    cluster.kubectl("wait", "--for=condition=Established", CRD)
    yield
    install_chart(cluster.binary("helm"), cluster.kubeconfig, "--reset-values", *IDLE_CHART_OPERATOR)


@contextmanager
def running_operator(cluster, tmp_path):
    kubeconfig = service_account_kubeconfig(cluster.binary("kubectl"), cluster.kubeconfig, tmp_path / "sa-kubeconfig")
    process = OperatorProcess(kubeconfig=kubeconfig, log=tmp_path / "operator.log").start()
    try:
        yield process
    finally:
        process.stop()


def helm(cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cluster.binary("helm")), *args, "--namespace", OPERATOR_NAMESPACE,
                           "--kubeconfig", str(cluster.kubeconfig)],
                          capture_output=True, text=True, check=True, timeout=180)


def get(cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def apply(cluster, namespace: str, document: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def ready(cluster, namespace: str, name: str) -> dict | None:
    obj = get(cluster, "llmd", name, "-n", namespace)
    status = obj.get("status") or {}
    ready_condition = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    current = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if current and ready_condition.get("status") == "True" else None


def crd_writes(tail: audit.AuditTail) -> int:
    """Write requests on the LLMDeployment CRD since ``tail`` started (the API server's audit log)."""
    return sum(
        1 for event in tail.poll()
        if event.get("stage") == "ResponseComplete"
        and (event.get("objectRef") or {}).get("resource") == "customresourcedefinitions"
        and (event.get("objectRef") or {}).get("name") == "llmdeployments.modelfleet.io"
    )


def test_installed_chart_serves_an_llmdeployment_to_ready(cluster, namespace, release, tmp_path):
    status = json.loads(helm(cluster, "status", RELEASE, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    with running_operator(cluster, tmp_path):
        apply(cluster, namespace, MISTRAL)
        obj = wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    assert obj["status"]["readyReplicas"] == 1
    notes = helm(cluster, "get", "notes", RELEASE).stdout
    assert "kubectl get llmd" in notes and f"svc/{RELEASE}-metrics" in notes and "/metrics" in notes


def test_upgrade_with_new_values_restarts_the_operator_and_leaves_models_alone(cluster, namespace, release, tmp_path):
    with running_operator(cluster, tmp_path):
        apply(cluster, namespace, MISTRAL)
        wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
        before = {
            "settings": get(cluster, "configmap", f"{RELEASE}-settings", "-n", OPERATOR_NAMESPACE)["data"],
            "template": get(cluster, "deployment", RELEASE, "-n", OPERATOR_NAMESPACE)["spec"]["template"],
            "llmd": get(cluster, "llmd", "mistral", "-n", namespace),
            "crd": get(cluster, CRD),
        }
        tail = audit.AuditTail()
        install_chart(cluster.binary("helm"), cluster.kubeconfig, "--reset-values", *IDLE_CHART_OPERATOR,
                      "--set", "resyncSeconds=20",
                      # --set keeps 1.5 a string (Helm converts integers only); the schema wants a number.
                      "--set-json", 'gpuPrices={"NVIDIA-H100-80GB-HBM3": 1.5}')
        settings = get(cluster, "configmap", f"{RELEASE}-settings", "-n", OPERATOR_NAMESPACE)["data"]
        template = get(cluster, "deployment", RELEASE, "-n", OPERATOR_NAMESPACE)["spec"]["template"]
        llmd = get(cluster, "llmd", "mistral", "-n", namespace)

    assert yaml.safe_load(settings["settings.yaml"])["gpuPrices"] == {"NVIDIA-H100-80GB-HBM3": 1.5}
    assert settings != before["settings"]
    checksum = "checksum/settings"
    assert template["metadata"]["annotations"][checksum] != before["template"]["metadata"]["annotations"][checksum]
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}
    assert env["MODELFLEET_RESYNC_SECONDS"] == "20"
    # The CRD unchanged, not even rewritten; the model exactly as it was.
    assert get(cluster, CRD)["metadata"]["resourceVersion"] == before["crd"]["metadata"]["resourceVersion"]
    assert crd_writes(tail) == 0
    assert llmd["metadata"]["resourceVersion"] == before["llmd"]["metadata"]["resourceVersion"]
    assert llmd["spec"] == before["llmd"]["spec"]


def test_uninstall_keeps_the_crd_and_every_llmdeployment(cluster, namespace, release, tmp_path):
    with running_operator(cluster, tmp_path):
        apply(cluster, namespace, MISTRAL)
        wait_for("mistral Ready", lambda: ready(cluster, namespace, "mistral"), READY_TIMEOUT)
    before = get(cluster, "llmd", "mistral", "-n", namespace)

    helm(cluster, "uninstall", RELEASE, "--wait", "--timeout", "120s")

    assert cluster.kubectl("get", "deployment", RELEASE, "-n", OPERATOR_NAMESPACE, check=False).returncode != 0
    assert cluster.kubectl("get", "clusterrole", RELEASE, check=False).returncode != 0
    crd = get(cluster, CRD)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    after = get(cluster, "llmd", "mistral", "-n", namespace)
    assert after["metadata"]["uid"] == before["metadata"]["uid"] and after["spec"] == before["spec"]
    # Its children belong to it, not to the release: the model keeps serving.
    assert get(cluster, "deployment", "mistral", "-n", namespace)["status"]["readyReplicas"] == 1
    assert get(cluster, "service", "mistral", "-n", namespace)["metadata"]["ownerReferences"][0]["kind"] \
        == "LLMDeployment"
