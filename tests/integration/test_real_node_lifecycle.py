"""The local cluster's real node comes and goes without leaving anything behind, and so does the local
kind cluster, each leaving the other's state alone.

``cluster-down`` must remove all that ``cluster-up`` made on this machine
(processes, mounts, cgroups, the pods' network namespaces, nft and iptables
rules, the bridge and its route, the kubelet's sysctls and directories) so
that ``cluster-up`` works again, and nothing else: with the local kind
cluster up (``e2e/kind/local``: podman's network, netavark's rules, its nft
table), it is all still there, and working, afterwards. The kind cluster's
``down`` likewise removes its own and nothing of the local cluster's. Marked
``cluster_restart``: it stops and starts the whole local cluster, so it runs
first (conftest.py), before any test installs anything.
"""
from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

import localcluster
from localcluster import node, node_host, settings
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
    for table in ("kube-proxy", node_host.NFT_TABLE, "KUBE-FIREWALL"):
        assert table not in snapshot["nft"]


KIND_SH = pathlib.Path(__file__).resolve().parents[2] / "e2e" / "kind" / "local" / "cluster.sh"


def kind(command: str) -> str:
    """``e2e/kind/local/cluster.sh up|down``: down exits 1 when the host differs from before its up."""
    done = subprocess.run(["bash", str(KIND_SH), command], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"kind {command} ({done.returncode}):\n{done.stderr[-4000:]}"
    return done.stderr


def kind_works() -> None:
    """Every kind node Ready, asked through the API server's port forward (netavark's rules on this host)."""
    kubeconfig = settings.cache_dir() / "kind" / "kubeconfig"
    done = subprocess.run([str(localcluster.binary("kubectl")), f"--kubeconfig={kubeconfig}", "get", "nodes",
                           "-o", "json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    nodes = json.loads(done.stdout)["items"]
    assert len(nodes) == 3 and all(any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in n["status"]["conditions"]) for n in nodes)


def shared(snapshot: dict) -> dict:
    """What both clusters change on this host: links, routes, nft and iptables rules, sysctls, directories.
    (The rest, processes, mounts, cgroups and network namespaces, follows the pods of whichever runs.)"""
    return {key: snapshot[key] for key in ("links", "routes", "nft", "sysctls", "dirs")}


def test_cluster_down_leaves_the_host_as_it_found_it_and_up_works_again(cluster):
    """Each down, nested inside the other cluster's life: kind's with the local cluster up, the local
    cluster's with kind up; both gone, the host as it was with neither; and up works again."""
    a_pod_runs_on_the_real_node(cluster)
    localcluster.down()
    first = node.host_snapshot()
    clean(first)
    # kind comes and goes while the local cluster runs: the local cluster keeps all it had, and works.
    localcluster.up()
    local = node.host_snapshot()
    assert shared(local) != shared(first)  # up really changed the host, so the comparisons below mean something
    kind("up")
    kind_works()
    assert "host as before" in kind("down")  # kind's own comparison with the host before its up
    assert shared(node.host_snapshot()) == shared(local)
    a_pod_runs_on_the_real_node(cluster)
    localcluster.down()
    assert node.host_snapshot() == first
    # The local cluster comes and goes while kind runs: podman's network, netavark's rules and kind's
    # table are all still there afterwards, and kind's API server answers through netavark's port forward.
    kind("up")
    with_kind = node.host_snapshot()
    localcluster.up()
    a_pod_runs_on_the_real_node(cluster)
    localcluster.down()
    after = node.host_snapshot()
    assert shared(after) == shared(with_kind)
    assert not after["netns"] and not after["cgroups"] and not after["mounts"]
    kind_works()
    assert "host as before" in kind("down")
    assert node.host_snapshot() == first
    localcluster.up()
    a_pod_runs_on_the_real_node(cluster)
