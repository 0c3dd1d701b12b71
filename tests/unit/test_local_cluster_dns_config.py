"""The local cluster's DNS configuration (e2e/local/localcluster/node_files.py): the kubelet points the pods
(dnsPolicy ClusterFirst) at the CoreDNS the real node runs, CoreDNS serves the cluster domain only (no
forwarder: every other name is refused), and a changed file restarts the process that reads it only when
it starts. The running resolver is e2e/suite/test_cluster_dns.py's."""

from __future__ import annotations

import pathlib
import re

import yaml

from localcluster import node, node_files, settings

LOCAL = pathlib.Path(settings.__file__).resolve().parents[1]


def test_the_kubelet_hands_pods_the_cluster_dns_and_domain():
    config = node_files.kubelet_config(node.spec())
    assert config["clusterDNS"] == [settings.CLUSTER_DNS_IP] == [settings.BRIDGE_IP]
    assert config["clusterDomain"] == settings.CLUSTER_DOMAIN == "cluster.local"


def test_coredns_serves_the_cluster_domain_on_the_bridge_and_forwards_nothing():
    corefile = node_files.corefile()
    server_blocks = re.findall(r"^(\S+) \{$", corefile, flags=re.MULTILINE)
    assert server_blocks == [f"cluster.local:{settings.NODE_PORTS['cluster-dns']}"]
    assert f"bind {settings.BRIDGE_IP}\n" in corefile
    assert f"kubeconfig {settings.kubeconfig_path()} {settings.CONTEXT}\n" in corefile
    assert f"ready {settings.HOST}:{settings.NODE_PORTS['cluster-dns-ready']}\n" in corefile
    assert "forward" not in corefile and "proxy" not in corefile


def test_a_changed_configuration_names_the_processes_to_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELFLEET_CACHE", str(tmp_path))
    spec = node.spec()
    assert node_files.write_configs(spec) == {"kubelet", "cluster-dns"}  # all new
    assert node_files.write_configs(spec) == set()  # as they were: nothing restarts on an idle cluster-up
    corefile = node_files.state() / "Corefile"
    corefile.write_text(corefile.read_text() + "# edited\n")
    kubelet = node_files.state() / "kubelet.yaml"
    kubelet.write_text(yaml.safe_dump({**yaml.safe_load(kubelet.read_text()), "clusterDNS": []}))
    assert node_files.write_configs(spec) == {"kubelet", "cluster-dns"}
    assert yaml.safe_load(kubelet.read_text())["clusterDNS"] == [settings.CLUSTER_DNS_IP]


def test_coredns_is_the_version_its_go_module_pins():
    go_mod = (LOCAL / "gomod" / "coredns" / "go.mod").read_text()
    (pinned,) = re.findall(r"^require github.com/coredns/coredns (\S+)$", go_mod, flags=re.MULTILINE)
    assert settings.versions()["COREDNS_VERSION"] == pinned
    assert settings.binary("coredns") == settings.cache_dir() / "bin" / f"coredns-{pinned}" / "coredns"
