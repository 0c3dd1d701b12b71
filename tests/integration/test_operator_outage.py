"""The operator through API server outages of 60 s and 120 s (the real kube-apiserver, stopped and started).

During the outage ``/healthz`` must fail once the API server has been silent
longer than the limit (set to 15 s here), so the kubelet would restart a deaf
operator; once the API server is back, watches reconnect within seconds: a
new LLMDeployment gets its children, and an edit shows in status, within 5 s.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import yaml

from localcluster import cluster as local
from support.operator_process import start_operator
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.api_outage]

DISCONNECTED_LIMIT_S = 15
BACK_WITHIN_S = 5.0


def healthz(operator) -> int:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


def seconds_until(what: str, check) -> float:
    started = time.monotonic()
    wait_for(what, check, 60, 0.2)
    return time.monotonic() - started


@pytest.fixture
def deaf_tolerant_operator(cluster, chart_release, tmp_path):
    process = start_operator(cluster, tmp_path, MODELFLEET_DISCONNECTED_LIMIT=str(DISCONNECTED_LIMIT_S))
    yield process
    process.stop()


def _heal(cluster) -> None:
    """Leave the cluster as the outage found it: nodes Ready again, and the pods the node lifecycle controller
    marked NotReady while the nodes' heartbeats could not arrive replaced (kwok marks new pods Ready)."""
    local.restart_kwok()  # its node leases do not survive the outage cleanly either
    wait_for("every node Ready", lambda: all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        for n in json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]), 180, 2)
    cluster.kubectl("delete", "pods", "-n", "modelfleet-system", "--all", "--wait=false")
    probe = f"outage-healed-{int(time.time())}"
    cluster.kubectl("create", "namespace", probe)
    try:
        wait_for("a new namespace's ServiceAccount", lambda: cluster.kubectl(
            "get", "serviceaccount", "default", "-n", probe, check=False).returncode == 0, 180, 1)
    finally:
        cluster.kubectl("delete", "namespace", probe, "--wait=false")


@pytest.mark.parametrize("outage_s", [60, 120])
def test_after_an_outage_watches_are_back_within_seconds_and_healthz_knew(cluster, namespace, deaf_tolerant_operator,
                                                                          outage_s, request):
    operator = deaf_tolerant_operator
    before = small_mistral("before", replicas=1)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(before))
    wait_for("the first LLMDeployment's Deployment", lambda: cluster.kubectl(
        "get", "deployment", "before", "-n", namespace, check=False).returncode == 0, 60)
    assert healthz(operator) == 200

    local.stop_apiserver()
    try:
        time.sleep(DISCONNECTED_LIMIT_S + 12)  # kopf caches probe results for 10 s
        during = healthz(operator)
        time.sleep(outage_s - DISCONNECTED_LIMIT_S - 12)
    finally:
        local.start_apiserver()
        request.addfinalizer(lambda: _heal(cluster))
    assert during == 500, f"/healthz answered {during} after {DISCONNECTED_LIMIT_S + 12} s without an API server"

    after = small_mistral("after", replicas=1)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(after))
    created = seconds_until("the new LLMDeployment's Deployment", lambda: cluster.kubectl(
        "get", "deployment", "after", "-n", namespace, check=False).returncode == 0)
    cluster.kubectl("patch", "llmd", "before", "-n", namespace, "--type=merge", "-p", '{"spec": {"replicas": 2}}')
    edited = seconds_until("the edit in status", lambda: json.loads(cluster.kubectl(
        "get", "llmd", "before", "-n", namespace, "-o", "json").stdout).get("status", {}).get("desiredReplicas") == 2)
    assert created < BACK_WITHIN_S, f"children {created:.1f} s after the API server came back: {operator.tail()}"
    assert edited < BACK_WITHIN_S, f"status {edited:.1f} s after the edit: {operator.tail()}"
    wait_for("/healthz 200 again", lambda: healthz(operator) == 200, 30)
