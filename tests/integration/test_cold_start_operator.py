"""The cold-start recorder on a real API server, as the chart's ServiceAccount.

kwok's engine pods have no kubelet to give their logs, so this proves the
part a real node cannot fail to show: the recorder lists the pod's events and
asks for its logs through the chart's RBAC, times what the pod status holds,
says what it could not read, and writes it under its own field manager. The
engine's log lines are read on the real node (e2e/suite/test_real_node.py),
for vLLM and TGI; once per pod is unit-tested (decide.cold_start.to_measure).
"""

from __future__ import annotations

import json

import pytest
import yaml

from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

NAME = "coldfleet"
FLEET = small_mistral(NAME, replicas=2)


def llmd(cluster, namespace: str, *flags: str) -> dict:
    return json.loads(cluster.kubectl("get", "llmd", NAME, "-n", namespace, "-o", "json", *flags).stdout)


def test_each_ready_replica_is_timed_once_with_what_could_not_be_read_said(cluster, namespace, operator):
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(FLEET))

    def both_timed() -> dict | None:
        cold = (llmd(cluster, namespace).get("status") or {}).get("coldStart")
        return cold if cold and len(cold["recent"]) == 2 else None

    cold = wait_for("both replicas in status.coldStart", both_timed, 90)
    engine_pods = f"modelfleet.io/llmdeployment={NAME},app.kubernetes.io/component=engine"  # not the routers
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-l", engine_pods, "-o", "json").stdout)["items"]
    assert {s["replica"] for s in cold["recent"]} == {p["metadata"]["name"] for p in pods}
    for sample in cold["recent"]:
        phases = sample["phases"]
        assert phases.get("scheduled") is not None and phases.get("ready") is not None, sample
        assert abs(sum(phases.values()) - sample["totalSeconds"]) < 1e-6, sample
        # kwok runs no kubelet: no engine log, no Pulled event, and the sample says so
        assert "weightsLoaded" not in phases and "engine log" in sample["unobserved"], sample
        assert "events:" not in sample["unobserved"], sample  # the chart lets it list events
    assert cold["median"]["samples"] == 2
    managers = {m["manager"] for m in llmd(cluster, namespace, "--show-managed-fields")["metadata"]["managedFields"]
                if m.get("subresource") == "status" and "f:coldStart" in m["fieldsV1"].get("f:status", {})}
    assert managers == {"modelfleet-coldstart"}
