"""Where things are: pinned versions, binaries, state directory, ports.

Everything listens on 127.0.0.1 only. Ports are fixed and high so they do not
clash with a real cluster's defaults (6443, 2379, 10257, 10259).
"""
from __future__ import annotations

import os
import pathlib

LOCAL_DIR = pathlib.Path(__file__).resolve().parent.parent  # e2e/local
CONTEXT = "modelfleet-local"
HOST = "127.0.0.1"
PORTS = {
    "etcd-client": 12379,
    "etcd-peer": 12380,
    "kube-apiserver": 16443,
    "kube-controller-manager": 16257,
    "kube-scheduler": 16259,
}
# Service and real pod addresses come from 198.18.0.0/15 (RFC 2544, reserved for
# benchmarking): clear of any real private network, and routed to the real
# node's bridge only (node_host.py), so nothing addressed to them leaves the machine.
SERVICE_CIDR = "198.19.0.0/16"
# The first Service address: the "kubernetes" Service, which in-cluster clients dial.
KUBERNETES_SERVICE_IP = "198.19.0.1"
# kwok hands out pod IPs from this range. Loopback on purpose: whatever
# connects to a pod (the operator's autoscaler scraping /metrics) stays on
# this machine, and a test can serve an engine's /metrics on a pod's address
# (Linux routes all of 127.0.0.0/8 to lo, no configuration needed).
KWOK_CIDR = "127.1.0.1/16"

# The real node (node.py): kubelet, kube-proxy and containerd on this machine,
# its pods on a bridge with the first address for the host side.
REAL_NODE_NAME = "real-0"
REAL_NODE_RANGE = "198.18.0.0/15"   # routed to the bridge as a whole (pods and Services)
POD_CIDR = "198.18.0.0/24"
BRIDGE = "mf0"
BRIDGE_IP = "198.18.0.1"            # the host on the bridge: node IP, and where pods reach the API server
# The e2e suite's Hub test server, where the real node's pods reach it (e2e/local/values.yaml).
HUB_PORT = 18080
NODE_PORTS = {
    "kubelet": 20250,
    "kubelet-healthz": 20248,
    "kube-proxy-healthz": 20256,
    "kube-proxy-metrics": 20249,
    "cluster-dns": 53,          # on BRIDGE_IP, UDP and TCP: the pods' nameserver
    "cluster-dns-ready": 20253,  # on HOST: CoreDNS's /ready
}
# The cluster DNS (CoreDNS on this machine, node_files.corefile): on the bridge, where the pods reach
# the host, and the kubelet's clusterDNS; it serves CLUSTER_DOMAIN and refuses every other name.
CLUSTER_DNS_IP = BRIDGE_IP
CLUSTER_DOMAIN = "cluster.local"


def versions() -> dict[str, str]:
    """KEY=VALUE pairs of versions.env (shared with build.sh)."""
    out = {}
    for line in (LOCAL_DIR / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("MODELFLEET_CACHE") or pathlib.Path.home() / ".cache/modelfleet")


def state_dir() -> pathlib.Path:
    return cache_dir() / "local-cluster"


def containerd_root() -> pathlib.Path:
    """The real node's containerd store, kept across down/up (under the cache, not the state that down
    wipes): the images imported into it stay, and so does the record of what was imported (images.py)."""
    return cache_dir() / "containerd"


def kubeconfig_path() -> pathlib.Path:
    return state_dir() / "kubeconfig"


def bin_dirs() -> dict[str, pathlib.Path]:
    v = versions()
    b = cache_dir() / "bin"
    return {
        "kubernetes": b / f"k8s-{v['K8S_VERSION']}",
        "etcd": b / f"etcd-{v['ETCD_VERSION']}",
        "kwok": b / f"kwok-{v['KWOK_VERSION']}",
        "helm": b / f"helm-{v['HELM_VERSION']}",
        "node": b / f"k8s-node-{v['K8S_VERSION']}",
        "coredns": b / f"coredns-{v['COREDNS_VERSION']}",
    }


def binary(name: str) -> pathlib.Path:
    """Path of a built binary: kube-apiserver, kubectl, etcd, etcdctl, kwok, helm..."""
    dirs = bin_dirs()
    tool = {"etcd": "etcd", "etcdctl": "etcd", "kwok": "kwok", "helm": "helm",
            "kubelet": "node", "kube-proxy": "node", "coredns": "coredns"}.get(name, "kubernetes")
    return dirs[tool] / name
