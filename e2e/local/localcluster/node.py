"""The real node: containerd, runc, CNI, kubelet, kube-proxy and the cluster DNS on this machine, started
and stopped.

Beside the kwok pools, one node runs real containers: ``real-0``, with the
labels of a GPU pool (``nodes.yaml``, ``realNode``) and a small fake
``nvidia.com/gpu`` capacity written into its status (there is no device
plugin; the kubelet admits pods against the node's allocatable), so the
scheduler places a planned replica there and the rendered pod runs as a user's
would. Its pods resolve the cluster's names (``<service>.<namespace>.svc``) through CoreDNS, which
runs here as a host process on the bridge address (``node_files.corefile``).

What it manages is split by kind: ``node_files`` (its state directory, the
processes' configuration files and command lines), ``node_host`` (the
network, nft and iptables rules, sysctls and directories it changes on this
machine, and how ``down`` undoes exactly those) and ``node_cgroups`` (the
pods' cgroups and the shims that outlive containerd). This module starts and
stops the whole in order, and registers the node with its labels and GPUs.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from . import images, node_cgroups, node_files, node_host, nodes, processes, settings
from .node_files import CTR, argv, binary_of, socket, state

# In start order: the cluster DNS before the kubelet, so the first pods find it.
PROCESSES = ["apiserver-forward", "cluster-dns", "containerd", "kubelet", "kube-proxy"]


class NodeError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"local-cluster: real node: {msg}", flush=True, file=sys.stderr)


def spec() -> dict[str, Any]:
    """The real node's pool, labels and fake GPUs, from nodes.yaml's realNode."""
    layout = nodes.load_layout()
    real: dict[str, Any] = layout["realNode"]
    return real


def labels(node_spec: dict[str, Any]) -> dict[str, str]:
    gpu = node_spec["gpu"]
    return {
        nodes.POOL: node_spec["pool"],
        "modelfleet.io/real-node": "true",
        "node.kubernetes.io/instance-type": node_spec["instanceType"],
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": gpu["product"],
        "nvidia.com/gpu.memory": str(gpu["memoryMiB"]),
        "nvidia.com/gpu.count": str(gpu["count"]),
        **node_spec.get("labels", {}),
    }


def up(kubeconfig: pathlib.Path, timeout: float = 180.0) -> None:
    """Start the real node (idempotent) and wait until it is Ready with its labels and GPUs."""
    node_spec = spec()
    node_host.save_host()
    changed = node_files.write_configs(node_spec)
    node_host.network_up()
    node_cgroups.up()
    s = settings.state_dir()
    for name in changed:  # a running one keeps its old configuration until it starts again
        if processes.stop(s, name, binary_of(name)):
            log(f"stopped {name}: its configuration changed")
    for name in PROCESSES:
        if processes.pid_of(s, name, binary_of(name)) is None:
            log(f"starting {name}")
            processes.start(s, name, argv(name))
            if name == "containerd":
                _wait(lambda: socket().exists() and node_host.run(CTR, "--address", str(socket()), "version",
                                                         check=False).returncode == 0,
                      "containerd's socket", timeout)
                images.import_pause(socket())
    _wait(cluster_dns_ready, "the cluster DNS ready (synced with the API server)", timeout)
    _wait(lambda: _node(kubeconfig) is not None, f"node {settings.REAL_NODE_NAME} registered", timeout)
    label_and_advertise_gpus(kubeconfig, node_spec)
    _wait(lambda: _ready(_node(kubeconfig)), f"node {settings.REAL_NODE_NAME} Ready", timeout)


def cluster_dns_ready() -> bool:
    """CoreDNS's /ready: 200 once its kubernetes plugin has listed the cluster's Services and endpoints."""
    url = f"http://{settings.HOST}:{settings.NODE_PORTS['cluster-dns-ready']}/ready"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _kubectl(kubeconfig: pathlib.Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(settings.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
                          input=input, capture_output=True, text=True)


def _node(kubeconfig: pathlib.Path) -> dict[str, Any] | None:
    out = _kubectl(kubeconfig, "get", "node", settings.REAL_NODE_NAME, "-o", "json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def _ready(node: dict[str, Any] | None) -> bool:
    return node is not None and any(c["type"] == "Ready" and c["status"] == "True"
                              for c in node["status"].get("conditions", []))


def label_and_advertise_gpus(kubeconfig: pathlib.Path, node_spec: dict[str, Any]) -> None:
    """The pool's labels, and fake GPUs in the status (the kubelet keeps extended resources
    it does not manage; it zeroes them when it registers again, so this runs on every up)."""
    wanted = labels(node_spec)
    node = _node(kubeconfig)
    if node is None:
        raise NodeError(f"node {settings.REAL_NODE_NAME} is not registered (the kubelet log says why)")
    if any(node["metadata"]["labels"].get(k) != v for k, v in wanted.items()):
        _check(_kubectl(kubeconfig, "label", "node", settings.REAL_NODE_NAME, "--overwrite",
                        *(f"{k}={v}" for k, v in wanted.items())))
    taints = _taints(node, node_spec.get("taints", []))
    if _unordered(taints) != _unordered(node["spec"].get("taints", [])):
        _check(_kubectl(kubeconfig, "patch", "node", settings.REAL_NODE_NAME, "--type=merge",
                        "-p", json.dumps({"spec": {"taints": taints}})))
    gpus = str(node_spec["gpu"]["count"])
    if node["status"].get("capacity", {}).get("nvidia.com/gpu") != gpus or \
            node["status"].get("allocatable", {}).get("nvidia.com/gpu") != gpus:
        patch = {"status": {"capacity": {"nvidia.com/gpu": gpus}, "allocatable": {"nvidia.com/gpu": gpus}}}
        _check(_kubectl(kubeconfig, "patch", "node", settings.REAL_NODE_NAME, "--subresource=status",
                        "--type=merge", "-p", json.dumps(patch)))


def _taints(node: dict[str, Any], wanted: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The node's taints with the layout's in place of any of the same key. The kubelet applies
    registerWithTaints only when it registers the node, so a layout change reaches a node that is
    already registered only this way; taints of other keys (the node controller's) stay."""
    keys = {t["key"] for t in wanted}
    kept = [t for t in node["spec"].get("taints", []) if t["key"] not in keys]
    return kept + [dict(t) for t in wanted]


def _unordered(taints: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(t, sort_keys=True) for t in taints)


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise NodeError(f"{result.args[1:]}: {result.stderr.strip()}")


def _wait(ready: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for name in PROCESSES:
            if (settings.state_dir() / "run" / f"{name}.pid").exists() and \
                    processes.pid_of(settings.state_dir(), name, binary_of(name)) is None:
                raise NodeError(f"{name} exited while waiting for {what}; see "
                                f"{settings.state_dir() / 'logs' / (name + '.log')}")
        if time.monotonic() > deadline:
            raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def down() -> None:
    """Stop the real node and undo every change it made to the host."""
    s = settings.state_dir()
    for name in ("kube-proxy", "kubelet"):
        if processes.stop(s, name, binary_of(name)):
            log(f"stopped {name}")
    # The pods' processes (and their shims' children) live in our cgroups: kill them there.
    node_cgroups.down()
    node_cgroups.kill_shims(state())
    for name in ("containerd", "cluster-dns", "apiserver-forward"):
        if processes.stop(s, name, binary_of(name)):
            log(f"stopped {name}")
    node_host.unmount_under(state(), settings.containerd_root(), pathlib.Path("/run/containerd"))
    node_host.remove_legacy_pod_netns()
    if settings.binary("kube-proxy").exists():
        node_host.run(str(settings.binary("kube-proxy")), "--cleanup", check=False)
    node_host.network_down()
    node_cgroups.down()
    node_host.restore_host()
    # Everything but the images (settings.containerd_root) goes: the next up starts clean.
    shutil.rmtree(state(), ignore_errors=True)


def host_snapshot() -> dict[str, Any]:
    """What the real node can change on this machine, read from the machine itself: compare one
    taken after ``down`` with one taken before ``up`` (or after an earlier ``down``)."""
    mounts = pathlib.Path("/proc/mounts").read_text().splitlines()
    ours = [str(state()), str(settings.containerd_root()), "/run/containerd", "/var/lib/kubelet"]
    binaries = {node_files.CONTAINERD, node_files.SOCAT, str(settings.binary("kubelet")),
                str(settings.binary("kube-proxy")), str(settings.binary("coredns"))}
    return {
        "links": sorted(line.split()[0].split("@")[0]
                        for line in node_host.run("ip", "-br", "link").stdout.splitlines()),
        "routes": sorted(node_host.run("ip", "route").stdout.splitlines()),
        # Without counters: another's rules (kind's table, netavark's) count packets meanwhile.
        "nft": node_host.run("nft", "-s", "list", "ruleset").stdout,
        "netns": node_host.pod_netns(),
        "sysctls": {k: node_host.sysctl_path(k).read_text().strip() for k in node_host.SYSCTLS
                    if node_host.sysctl_path(k).exists()},
        "dirs": [str(d) for d in node_host.HOST_DIRS if d.exists()],
        "cgroups": [str(h / node_cgroups.CGROUP_ROOT) for h in node_cgroups.hierarchies(unified=True)
                    if (h / node_cgroups.CGROUP_ROOT).exists()],
        "mounts": sorted(m.split()[1] for m in mounts if any(m.split()[1].startswith(o) for o in ours)),
        "processes": sorted(args[0] for _, args in node_cgroups.command_lines()
                            if args[0] in binaries or args[0].endswith("containerd-shim-runc-v2")),
    }


def kill_container(container_id: str) -> None:
    """SIGKILL a container's main process, as an OOM kill or a crash would end it
    (`container_id` as pod status gives it: containerd://<id>)."""
    _check(node_host.run(CTR, "--address", str(socket()), "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL",
                container_id.split("://", 1)[1], check=False))


def running() -> dict[str, int | None]:
    s = settings.state_dir()
    return {n: processes.pid_of(s, n, binary_of(n)) for n in PROCESSES}
