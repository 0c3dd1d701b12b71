"""Where the real node keeps its state, and what it starts there: containerd's, the CNI's, the
kubelet's, kube-proxy's and the cluster DNS's (CoreDNS) configuration files, and the command line
of each process.

The state directory goes with ``down``; containerd's content store (``settings.containerd_root``)
stays, because the images imported into it cannot be pulled back.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any

import yaml

from . import settings
from .node_cgroups import CGROUP_ROOT

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
SOCAT = "/usr/bin/socat"
CNI_BIN_DIR = "/usr/lib/cni"
# The pause image: the pods' sandbox, and the container of the pre-pull DaemonSet's pods.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def state() -> pathlib.Path:
    return settings.state_dir() / "node"


def socket() -> pathlib.Path:
    return state() / "containerd" / "containerd.sock"


def containerd_config() -> str:
    run = state() / "containerd"
    return f"""version = 2
root = "{settings.containerd_root()}"
state = "{run / 'state'}"
# Only the CRI, overlayfs and runc: no tracing, no other snapshotters.
disabled_plugins = ["io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{socket()}"
[ttrpc]
  address = "{run / 'containerd.sock.ttrpc'}"
[debug]
  address = "{run / 'debug.sock'}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{run / 'opt'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_cdi = false
  # The pods' network namespaces under our state (<state>/io.containerd.grpc.v1.cri/netns), not in
  # /run/netns: once anything runs `ip netns add` (a test, podman), /run/netns becomes a bind mount of
  # itself that hides the namespaces mounted before it, and `ip netns delete` can no longer remove them.
  netns_mounts_under_state_dir = true
  # Not even root may lower an oom_score_adj on this machine (no CAP_SYS_RESOURCE in the VM), and
  # the kubelet asks -998 for sandboxes: keep every container at containerd's own or above.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroup v1 here, managed by the kubelet's cgroupfs driver
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{state() / 'cni'}"
"""


def cni_config() -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "modelfleet",
        "plugins": [
            {
                "type": "bridge", "bridge": settings.BRIDGE, "isGateway": True,
                # No masquerade: pod traffic never leaves the bridge (see the module docstring).
                "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(state() / "cni-ipam"),
                         "ranges": [[{"subnet": settings.POD_CIDR, "gateway": settings.BRIDGE_IP,
                                      "rangeStart": settings.POD_CIDR.replace(".0/24", ".10")}]],
                         "routes": [{"dst": "0.0.0.0/0"}]},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(node_spec: dict[str, Any]) -> dict[str, Any]:
    pki = settings.state_dir() / "pki"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": settings.BRIDGE_IP,
        "port": settings.NODE_PORTS["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": settings.HOST,
        "healthzPort": settings.NODE_PORTS["kubelet-healthz"],
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{socket()}",
        # cgroup v1 on this machine, no systemd: the cgroupfs driver under a root of our own.
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failSwapOn": False,
        "podLogsDir": str(state() / "pod-logs"),
        "volumePluginDir": str(state() / "volume-plugins"),
        # dnsPolicy ClusterFirst (the default): the cluster DNS, and the search path of the cluster domain.
        "clusterDNS": [settings.CLUSTER_DNS_IP],
        "clusterDomain": settings.CLUSTER_DOMAIN,
        # The host's resolvers are not the pods' (nothing leaves the machine): no search domains of the
        # host's for ClusterFirst, and for dnsPolicy Default a resolver that answers nothing.
        "resolvConf": str(state() / "resolv.conf"),
        # The disk is shared with builds and caches: evict only when it is really full, and
        # never garbage-collect the images we imported (they cannot be pulled back).
        "evictionHard": {"memory.available": "200Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "registerWithTaints": node_spec.get("taints", []),
        "serializeImagePulls": False,
        "protectKernelDefaults": False,
        "rotateCertificates": False,
        "nodeStatusReportFrequency": "1m",
        "shutdownGracePeriod": "0s",
    }


def kube_proxy_config() -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "nftables",
        "clientConnection": {"kubeconfig": str(settings.state_dir() / "kubeconfigs" / "kube-proxy.yaml")},
        "hostnameOverride": settings.REAL_NODE_NAME,
        "bindAddress": settings.BRIDGE_IP,
        "healthzBindAddress": f"{settings.HOST}:{settings.NODE_PORTS['kube-proxy-healthz']}",
        "metricsBindAddress": f"{settings.HOST}:{settings.NODE_PORTS['kube-proxy-metrics']}",
        "clusterCIDR": settings.POD_CIDR,
        "detectLocalMode": "ClusterCIDR",
        # Leave the host's conntrack settings as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "nodePortAddresses": [f"{settings.BRIDGE_IP}/32"],
    }


def corefile() -> str:
    """CoreDNS's configuration: the cluster domain from the API server (the ``kubernetes`` plugin), on the
    bridge address only. The plugin lists and watches Services, EndpointSlices and, always, Namespaces
    (coredns v1.14.3 plugin/kubernetes/controller.go); of the cluster's credentials only the system:masters
    ones may (kube-proxy's role, system:node-proxier, has no Namespaces), so it reads with the admin
    kubeconfig. No server block serves any other zone, so CoreDNS answers every other name at once with
    REFUSED: no forwarder (nothing leaves this machine) and no timeout for a pod asking for one."""
    ports = settings.NODE_PORTS
    return f"""# The local cluster's DNS (e2e/local/localcluster/node_files.py), written by cluster-up.
{settings.CLUSTER_DOMAIN}:{ports['cluster-dns']} {{
    bind {settings.CLUSTER_DNS_IP}
    errors
    # 200 once the kubernetes plugin has synced with the API server: what cluster-up waits for.
    ready {settings.HOST}:{ports['cluster-dns-ready']}
    kubernetes {settings.CLUSTER_DOMAIN} {{
        kubeconfig {settings.kubeconfig_path()} {settings.CONTEXT}
    }}
}}
"""


def binary_of(name: str) -> str:
    return {"apiserver-forward": SOCAT, "containerd": CONTAINERD}.get(name) or \
        str(settings.binary({"cluster-dns": "coredns"}.get(name, name)))


def argv(name: str) -> list[str]:
    kubeconfigs = settings.state_dir() / "kubeconfigs"
    if name == "apiserver-forward":
        # Pods dial the "kubernetes" Service, whose endpoint is the advertised address.
        port = settings.PORTS["kube-apiserver"]
        return [binary_of(name), f"TCP-LISTEN:{port},bind={settings.BRIDGE_IP},fork,reuseaddr",
                f"TCP:{settings.HOST}:{port}"]
    if name == "containerd":
        return [binary_of(name), f"--config={state() / 'containerd.toml'}"]
    if name == "cluster-dns":
        return [binary_of(name), "-conf", str(state() / "Corefile")]
    if name == "kubelet":
        return [binary_of(name), f"--config={state() / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfigs / 'kubelet.yaml'}", f"--root-dir={state() / 'kubelet'}",
                f"--hostname-override={settings.REAL_NODE_NAME}", f"--node-ip={settings.BRIDGE_IP}",
                f"--cert-dir={state() / 'kubelet-pki'}", "--v=1"]
    if name == "kube-proxy":
        return [binary_of(name), f"--config={state() / 'kube-proxy.yaml'}", "--v=1"]
    raise KeyError(name)


def write_configs(node_spec: dict[str, Any]) -> set[str]:
    """Write the configuration files; return the processes (of those that read theirs only when they
    start: the kubelet, the cluster DNS) whose file changed, to restart them if they run."""
    s = state()
    for d in ("cni", "pod-logs", "volume-plugins", "kubelet", "kubelet-pki", "containerd"):
        (s / d).mkdir(parents=True, exist_ok=True)
    _write(s / "containerd.toml", containerd_config())
    _write(s / "cni" / "10-modelfleet.conflist", json.dumps(cni_config(), indent=2))
    changed = set()
    if _write(s / "kubelet.yaml", yaml.safe_dump(kubelet_config(node_spec), sort_keys=False)):
        changed.add("kubelet")
    _write(s / "kube-proxy.yaml", yaml.safe_dump(kube_proxy_config(), sort_keys=False))
    if _write(s / "Corefile", corefile()):
        changed.add("cluster-dns")
    _write(s / "resolv.conf", "# the host's resolvers are not the pods' (dnsPolicy Default)\nnameserver 127.0.0.1\n")
    return changed


def _write(path: pathlib.Path, text: str) -> bool:
    """Write `text` unless the file holds it already; whether it wrote."""
    # Only when it changed: kube-proxy exits when its configuration file is rewritten.
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True
