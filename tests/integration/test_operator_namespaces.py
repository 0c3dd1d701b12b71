"""An operator told to watch one namespace acts there only: its loops read only what its watches bring.

Its own module, so that no cluster-wide operator of another test module runs beside it.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from support.operator_process import start_operator
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane


def get(cluster, namespace: str, what: str) -> dict | None:
    done = cluster.kubectl("get", what, "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def apply(cluster, namespace: str, document: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def test_an_operator_told_one_namespace_leaves_the_others_alone(cluster, chart_release, tmp_path):
    mine, other = (f"t-ns-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for ns in (mine, other):
        cluster.kubectl("create", "namespace", ns)
    process = start_operator(cluster, tmp_path, namespaces=(mine,))
    try:
        apply(cluster, other, small_mistral("elsewhere", replicas=1))
        apply(cluster, mine, small_mistral("here", replicas=1))
        wait_for("the watched namespace served", lambda: get(cluster, mine, "deployment/here"), 30)
        seen = process.reconciles()
        wait_for("three resyncs", lambda: process.reconciles() >= seen + 3, 30)
        assert get(cluster, other, "deployment/elsewhere") is None
        assert "status" not in get(cluster, other, "llmd/elsewhere")
    finally:
        process.stop()
        for ns in (mine, other):
            cluster.kubectl("delete", "namespace", ns, "--wait=false")
