"""The real node's nft teardown (localcluster.node_host.remove_our_nft) on real nftables, in a network namespace of
its own: it removes what the local cluster adds and keeps what others add, before its up or meanwhile.

The namespace gets what the host gets: netavark's iptables-nft chains and the local kind cluster's table
(e2e/kind/local), then the local cluster's table, kube-proxy's tables and the kubelet's iptables-nft chains,
then more of netavark's (a kind cluster that came up after the local cluster). After the teardown, its ruleset
is exactly that of a namespace that got only the others' parts. Needs root, nft and iptables-nft (as the
local cluster does), no cluster.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from localcluster import node_host

KIND_BEFORE = """
iptables -t filter -N NETAVARK_FORWARD
iptables -t filter -A FORWARD -j NETAVARK_FORWARD
iptables -t filter -A NETAVARK_FORWARD -d 198.18.100.0/24 -j ACCEPT
iptables -t nat -N NETAVARK-HOSTPORT-DNAT
iptables -t nat -A PREROUTING -j NETAVARK-HOSTPORT-DNAT
iptables -t nat -A OUTPUT -j NETAVARK-HOSTPORT-DNAT
nft add table inet modelfleet-kind
nft 'add chain inet modelfleet-kind forward { type filter hook forward priority filter - 10; policy accept; }'
nft add rule inet modelfleet-kind forward iifname podman1 oifname != podman1 drop
"""
# What the local cluster's up leaves (node_host.py's table; kube-proxy's tables; the kubelet's chains, as on this host).
LOCAL = """
nft add table inet modelfleet-node
nft 'add chain inet modelfleet-node forward { type filter hook forward priority filter - 10; policy accept; }'
nft add rule inet modelfleet-node forward iifname mf0 oifname != mf0 counter drop
nft add table ip kube-proxy
nft 'add chain ip kube-proxy filter-forward { type filter hook forward priority -110; policy accept; }'
nft add table ip6 kube-proxy
nft add chain ip6 kube-proxy services
iptables -t mangle -N KUBE-IPTABLES-HINT
iptables -t mangle -N KUBE-KUBELET-CANARY
iptables -t filter -N KUBE-FIREWALL
iptables -t filter -A INPUT -j KUBE-FIREWALL
iptables -t filter -A OUTPUT -j KUBE-FIREWALL
iptables -t filter -A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP
iptables -t filter -N KUBE-KUBELET-CANARY
iptables -t nat -N KUBE-KUBELET-CANARY
ip6tables -t mangle -N KUBE-IPTABLES-HINT
ip6tables -t mangle -N KUBE-KUBELET-CANARY
ip6tables -t nat -N KUBE-KUBELET-CANARY
ip6tables -t filter -N KUBE-KUBELET-CANARY
"""
# A kind cluster brought up while the local cluster runs: netavark adds to the kubelet's base chains too.
KIND_MEANWHILE = """
iptables -t nat -N NETAVARK-1D8721804F16F
iptables -t nat -A POSTROUTING -s 198.18.100.0/24 -j NETAVARK-1D8721804F16F
iptables -t filter -A INPUT -i podman1 -p udp --dport 53 -j ACCEPT
"""


@pytest.fixture
def netns(request):
    """Two fresh network namespaces: (the one torn down, the one with the others' parts only)."""
    names = [f"mf-nft-{os.getpid()}-{i}" for i in (0, 1)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    yield names
    for name in names:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def apply(ns: str, script: str) -> None:
    for line in filter(None, (line.strip() for line in script.splitlines())):
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", line], check=True, capture_output=True)


def ruleset(ns: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "-s", "list", "ruleset"], check=True,
                          capture_output=True, text=True).stdout


def test_the_local_clusters_down_removes_its_own_rules_and_keeps_everyone_elses(netns, monkeypatch):
    ns, expected_ns = netns
    apply(ns, KIND_BEFORE)
    before = ruleset(ns)
    apply(ns, LOCAL)
    apply(ns, KIND_MEANWHILE)
    assert "KUBE-FIREWALL" in ruleset(ns)
    real_run = node_host.run
    monkeypatch.setattr(node_host, "run", lambda *cmd, **kw: real_run("ip", "netns", "exec", ns, *cmd, **kw))
    node_host.remove_our_nft(before)
    after = ruleset(ns)
    for ours in ("modelfleet-node", "kube-proxy", "KUBE-"):
        assert ours not in after
    apply(expected_ns, KIND_BEFORE + KIND_MEANWHILE)
    assert after == ruleset(expected_ns)
