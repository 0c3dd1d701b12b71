"""The local cluster's real node comes and goes without leaving anything behind.

``cluster-down`` must remove all that ``cluster-up`` made on this machine
(processes, mounts, cgroups, the pods' network namespaces, nft and iptables
rules, the bridge and its route, the kubelet's sysctls and directories) so
that ``cluster-up`` works again. Marked ``cluster_restart``: it stops and
starts the whole local cluster, so it runs first (conftest.py), before any
test installs anything.
"""
from __future__ import annotations

import json

import pytest

import localcluster
from localcluster import node, settings
from support.waiting import wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.cluster_restart, pytest.mark.realnode]

SMOKE_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smoke", "namespace": "default"},
    "spec": {
        "nodeSelector": {"modelfleet.io/real-node": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "restartPolicy": "Never",
        "containers": [{"name": "c", "image": "ghcr.io/modelfleet/runtime:0.1.0", "imagePullPolicy": "Never",
                        "command": ["python3", "-c", "import os; print(os.environ['KUBERNETES_SERVICE_HOST'])"]}],
    },
}


def a_pod_runs_on_the_real_node(cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(SMOKE_POD))
    wait_for("the smoke pod Succeeded", lambda: cluster.kubectl(
        "get", "pod", "smoke", "-o", "jsonpath={.status.phase}").stdout == "Succeeded", 120)
    # Its log through the API server and the kubelet: the in-cluster address of the API server.
    assert cluster.kubectl("logs", "smoke").stdout.strip() == settings.KUBERNETES_SERVICE_IP
    cluster.kubectl("delete", "pod", "smoke", "--wait=true")


def clean(snapshot: dict) -> None:
    """Nothing of the real node is left on the host."""
    assert settings.BRIDGE not in snapshot["links"]
    assert not [r for r in snapshot["routes"] if "198.18." in r]
    assert not snapshot["netns"] and not snapshot["cgroups"] and not snapshot["mounts"]
    assert not snapshot["processes"]
    for table in ("kube-proxy", node.NFT_TABLE, "KUBE-FIREWALL"):
        assert table not in snapshot["nft"]


def test_cluster_down_leaves_the_host_as_it_found_it_and_up_works_again(cluster):
    a_pod_runs_on_the_real_node(cluster)
    localcluster.down()
    first = node.host_snapshot()
    clean(first)
    localcluster.up()
    a_pod_runs_on_the_real_node(cluster)
    assert node.host_snapshot() != first  # up really changed the host, so the comparison below means something
    localcluster.down()
    second = node.host_snapshot()
    assert second == first
    localcluster.up()
    a_pod_runs_on_the_real_node(cluster)
