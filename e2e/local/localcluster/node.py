"""The real node: containerd, runc, CNI, kubelet and kube-proxy on this machine.

Beside the kwok pools, one node runs real containers: ``real-0``, with the
labels of a GPU pool (``nodes.yaml``, ``realNode``) and a small fake
``nvidia.com/gpu`` capacity written into its status (there is no device
plugin; the kubelet admits pods against the node's allocatable), so the
scheduler places a planned replica there and the rendered pod runs as a user's
would.

Network. Pods live in network namespaces of their own on the bridge
``mf0`` (198.18.0.0/24, the host at 198.18.0.1; RFC 2544 space). The whole of
198.18.0.0/15 (pods and Services) is routed to that bridge, and a forward rule
drops whatever would leave it for another interface, so nothing addressed to a
pod or a Service ever leaves the machine. kube-proxy (nftables mode) programs
the Services; the API server listens on loopback and is advertised at
198.18.0.1, where a forwarder hands pods' connections to it.

Host changes, and how ``down`` undoes them: the kubelet sets
``vm.overcommit_memory``, ``kernel.panic`` and ``kernel.panic_on_oops`` and
adds iptables chains (KUBE-FIREWALL, canaries; iptables here is iptables-nft,
so they are nft chains of the tables ``ip``/``ip6`` ``filter``, ``nat`` and
``mangle``, which it creates when they are missing), kube-proxy adds its nft
tables (``ip``/``ip6`` ``kube-proxy``), and we set IP forwarding and bridge
netfilter and add a table of our own. ``down`` removes exactly those and
keeps whatever else is there (podman's and netavark's rules, the local kind
cluster's table, which may have come and gone meanwhile): our table,
kube-proxy's, the ``KUBE-*`` chains that were not there before ``up`` with the
rules that jump to them, then the base chains and tables iptables-nft made
for them when they are left empty. The sysctls are held (``hostsysctls``):
the value found by the first of the test clusters that changes one comes
back when the last of them releases it. ``down`` stops the processes
(containers first), unmounts what is mounted under our directories, removes
the pods' network namespaces, the bridge, the route and the cgroups, and the
directories the kubelet and runc insist on creating outside ours when they
were not there before.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import yaml

from . import hostsysctls, nodes, processes, settings

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
SOCAT = "/usr/bin/socat"
CNI_BIN_DIR = "/usr/lib/cni"
CGROUP_ROOT = "modelfleet-node"
CGROUP_FS = pathlib.Path("/sys/fs/cgroup")
# The pause image: the pods' sandbox, and the container of the pre-pull DaemonSet's pods.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
NFT_TABLE = "modelfleet-node"
# Host settings the kubelet (or we) change; restored by down().
SYSCTLS = {
    "vm.overcommit_memory": None, "kernel.panic": None, "kernel.panic_on_oops": None,
    "net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}
# Created whatever our own directories say: by the kubelet (1.34) and by runc under containerd's
# CRI (its --root for the k8s.io namespace).
HOST_DIRS = [pathlib.Path("/var/lib/kubelet"), pathlib.Path("/var/log/containers"), pathlib.Path("/run/containerd")]
PROCESSES = ["apiserver-forward", "containerd", "kubelet", "kube-proxy"]


class NodeError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"local-cluster: real node: {msg}", flush=True, file=sys.stderr)


def state() -> pathlib.Path:
    return settings.state_dir() / "node"


def socket() -> pathlib.Path:
    return state() / "containerd" / "containerd.sock"


def containerd_root() -> pathlib.Path:
    # Kept across down/up (under the cache, not the state that down wipes): the imported images.
    return settings.cache_dir() / "containerd"


def spec() -> dict:
    """The real node's pool, labels and fake GPUs, from nodes.yaml's realNode."""
    layout = nodes.load_layout()
    return layout["realNode"]


def labels(node_spec: dict) -> dict[str, str]:
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


# ---------------------------------------------------------------- configuration

def containerd_config() -> str:
    run = state() / "containerd"
    return f"""version = 2
root = "{containerd_root()}"
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


def cni_config() -> dict:
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


def kubelet_config(node_spec: dict) -> dict:
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
        # No cluster DNS here: pods get a resolver that answers nothing rather than the host's.
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


def kube_proxy_config() -> dict:
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


def binary_of(name: str) -> str:
    return {"apiserver-forward": SOCAT, "containerd": CONTAINERD}.get(name) or str(settings.binary(name))


def argv(name: str) -> list[str]:
    kubeconfigs = settings.state_dir() / "kubeconfigs"
    if name == "apiserver-forward":
        # Pods dial the "kubernetes" Service, whose endpoint is the advertised address.
        port = settings.PORTS["kube-apiserver"]
        return [binary_of(name), f"TCP-LISTEN:{port},bind={settings.BRIDGE_IP},fork,reuseaddr",
                f"TCP:{settings.HOST}:{port}"]
    if name == "containerd":
        return [binary_of(name), f"--config={state() / 'containerd.toml'}"]
    if name == "kubelet":
        return [binary_of(name), f"--config={state() / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfigs / 'kubelet.yaml'}", f"--root-dir={state() / 'kubelet'}",
                f"--hostname-override={settings.REAL_NODE_NAME}", f"--node-ip={settings.BRIDGE_IP}",
                f"--cert-dir={state() / 'kubelet-pki'}", "--v=1"]
    if name == "kube-proxy":
        return [binary_of(name), f"--config={state() / 'kube-proxy.yaml'}", "--v=1"]
    raise KeyError(name)


def write_configs(node_spec: dict) -> None:
    s = state()
    for d in ("cni", "pod-logs", "volume-plugins", "kubelet", "kubelet-pki", "containerd"):
        (s / d).mkdir(parents=True, exist_ok=True)
    _write(s / "containerd.toml", containerd_config())
    _write(s / "cni" / "10-modelfleet.conflist", json.dumps(cni_config(), indent=2))
    _write(s / "kubelet.yaml", yaml.safe_dump(kubelet_config(node_spec), sort_keys=False))
    _write(s / "kube-proxy.yaml", yaml.safe_dump(kube_proxy_config(), sort_keys=False))
    _write(s / "resolv.conf", "# no cluster DNS on the local cluster's real node\nnameserver 127.0.0.1\n")


def _write(path: pathlib.Path, text: str) -> None:
    # Only when it changed: kube-proxy exits when its configuration file is rewritten.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


# ---------------------------------------------------------------- host changes

def _run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, input=input)


def _sysctl_path(key: str) -> pathlib.Path:
    return pathlib.Path("/proc/sys") / key.replace(".", "/")


# Who holds the sysctls (hostsysctls) for the real node.
SYSCTL_HOLDER = "local-cluster"
# The tables iptables-nft keeps the kubelet's chains in.
IPTABLES_TABLES = [(family, table) for family in ("ip", "ip6") for table in ("filter", "nat", "mangle", "raw")]


def save_host() -> None:
    """Record, once, what the host looked like before the first up, and hold the sysctls we change (the
    record is the hold's witness: it exists while the real node is up)."""
    saved = state() / "host-before.json"
    if not saved.exists():
        before = {
            "dirs": [str(d) for d in HOST_DIRS if d.exists()],
            "nft": _run("nft", "-s", "list", "ruleset").stdout,
            # Read by an older checkout's down, which restores them itself; ours releases them (held).
            "sysctls": {k: _sysctl_path(k).read_text().strip() for k in SYSCTLS if _sysctl_path(k).exists()},
            "held": True,
        }
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(before, indent=2))
    hostsysctls.hold(SYSCTL_HOLDER, saved, SYSCTLS)


def restore_host() -> None:
    """Remove what the real node added to the host and nothing else (see the module docstring)."""
    saved = state() / "host-before.json"
    before = json.loads(saved.read_text()) if saved.exists() else {"dirs": [], "nft": ""}
    remove_our_nft(before["nft"])
    if not before.get("held"):  # saved by an older checkout's up, which held nothing: put them back as saved
        for key, value in before.get("sysctls", {}).items():
            _sysctl_path(key).write_text(value)
    hostsysctls.release(SYSCTL_HOLDER)
    for d in HOST_DIRS:
        if str(d) not in before["dirs"] and d.exists():
            _unmount_under(d)
            shutil.rmtree(d, ignore_errors=True)
    saved.unlink(missing_ok=True)


def nft_names(ruleset: str) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """The tables (family, name) and chains (family, table, name) of an ``nft list ruleset``."""
    tables, chains = set(), set()
    table: tuple[str, str] | None = None
    for line in ruleset.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "table":
            table = (words[1], words[2])
            tables.add(table)
        elif len(words) >= 2 and words[0] == "chain" and table:
            chains.add((*table, words[1]))
    return tables, chains


def remove_our_nft(before: str) -> None:
    """Our table, kube-proxy's, and the kubelet's iptables-nft chains that ``before`` does not have, with
    the rules that jump to them; then the base chains and tables those needed, if ``before`` had none
    and nothing else uses them now. Everything else stays as it is."""
    had_tables, had_chains = nft_names(before)
    _run("nft", "delete", "table", "inet", NFT_TABLE, check=False)
    for family in ("ip", "ip6"):
        if (family, "kube-proxy") not in had_tables:
            _run("nft", "delete", "table", family, "kube-proxy", check=False)
    for family, table in IPTABLES_TABLES:
        listed = _run("nft", "-j", "list", "table", family, table, check=False)
        if listed.returncode != 0:
            continue
        items = [next(iter(i.items())) for i in json.loads(listed.stdout)["nftables"]]
        chains = {c["name"]: c for kind, c in items if kind == "chain"}
        rules = [r for kind, r in items if kind == "rule"]
        ours = {name for name in chains if name.startswith("KUBE-") and (family, table, name) not in had_chains}
        for rule in rules:
            if rule["chain"] not in ours and _jumps_to(rule) & ours:
                _run("nft", "delete", "rule", family, table, rule["chain"], "handle", str(rule["handle"]))
        for name in ours:
            _run("nft", "flush", "chain", family, table, name)
        for name in ours:
            _run("nft", "delete", "chain", family, table, name)
        left = {name for name in chains if name not in ours}
        for name in sorted(left):
            empty = not any(r["chain"] == name for r in rules if not _jumps_to(r) & ours)
            if "hook" in chains[name] and empty and (family, table, name) not in had_chains:
                _run("nft", "delete", "chain", family, table, name)
                left.discard(name)
        if not left and (family, table) not in had_tables:
            _run("nft", "delete", "table", family, table, check=False)


def _jumps_to(rule: dict) -> set[str]:
    """The chains a rule (nft's JSON) jumps or goes to."""
    found = set()
    for expr in rule.get("expr", []):
        for verdict in ("jump", "goto"):
            if isinstance(expr, dict) and verdict in expr:
                found.add(expr[verdict]["target"])
    return found


def network_up() -> None:
    for key, value in SYSCTLS.items():
        if value is not None:
            _sysctl_path(key).write_text(value)
    if _run("ip", "link", "show", settings.BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", settings.BRIDGE, "type", "bridge")
    prefix = settings.POD_CIDR.split("/")[1]
    _run("ip", "addr", "replace", f"{settings.BRIDGE_IP}/{prefix}", "dev", settings.BRIDGE)
    _run("ip", "link", "set", settings.BRIDGE, "up")
    # Pods and Services: all of 198.18.0.0/15 to the bridge, never to the default route.
    _run("ip", "route", "replace", settings.REAL_NODE_RANGE, "dev", settings.BRIDGE)
    # What arrives from the bridge may go back to it (pod to pod, pod to Service) or to the
    # host itself (input), never anywhere else.
    _run("nft", "-f", "-", input=f"""
table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
  chain forward {{
    type filter hook forward priority filter - 10; policy accept;
    iifname "{settings.BRIDGE}" oifname != "{settings.BRIDGE}" counter drop
    oifname "{settings.BRIDGE}" iifname != "{settings.BRIDGE}" counter drop
  }}
}}
""")


def network_down() -> None:
    _run("nft", "delete", "table", "inet", NFT_TABLE, check=False)
    _run("ip", "route", "del", settings.REAL_NODE_RANGE, "dev", settings.BRIDGE, check=False)
    _run("ip", "link", "del", settings.BRIDGE, check=False)


def cgroups_up() -> None:
    """The kubelet wants its cgroupRoot in every hierarchy before it starts."""
    for hierarchy in _cgroup_hierarchies():
        path = hierarchy / CGROUP_ROOT
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":  # a new cpuset starts empty: give it the parent's
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((hierarchy / f).read_text())


def _cgroup_hierarchies(unified: bool = False) -> list[pathlib.Path]:
    """The v1 hierarchies (and, to clean up, the v2 one a hybrid host mounts at `unified`)."""
    return [p for p in sorted(CGROUP_FS.iterdir())
            if p.is_dir() and not p.is_symlink() and (unified or p.name != "unified")]


def cgroups_down() -> None:
    for hierarchy in _cgroup_hierarchies(unified=True):
        root = hierarchy / CGROUP_ROOT
        if not root.exists():
            continue
        for dirpath, _, _ in sorted(os.walk(root), key=lambda entry: -entry[0].count("/")):
            for pid in _read_pids(pathlib.Path(dirpath)):
                _kill(pid)
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _read_pids(cgroup: pathlib.Path) -> list[int]:
    # A cgroup the kubelet or runc removes while we walk answers ENOENT, or
    # ENODEV once its hierarchy has let go of it: either way it holds nobody.
    try:
        return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _unmount_under(*roots: pathlib.Path) -> None:
    """Lazily unmount every mount point below `roots`, deepest first."""
    prefixes = [str(r.resolve()) for r in roots]
    mounts = [line.split()[1].replace("\\040", " ") for line in pathlib.Path("/proc/mounts").read_text().splitlines()]
    for point in sorted({m for m in mounts if any(m == p or m.startswith(p + "/") for p in prefixes)},
                        key=len, reverse=True):
        _run("umount", "-l", point, check=False)


def _pod_netns() -> list[str]:
    ns_dir = pathlib.Path("/var/run/netns")
    return sorted(p.name for p in ns_dir.glob("cni-*")) if ns_dir.exists() else []


# ---------------------------------------------------------------- lifecycle

def up(kubeconfig: pathlib.Path, timeout: float = 180.0) -> None:
    """Start the real node (idempotent) and wait until it is Ready with its labels and GPUs."""
    node_spec = spec()
    save_host()
    write_configs(node_spec)
    network_up()
    cgroups_up()
    s = settings.state_dir()
    for name in PROCESSES:
        if processes.pid_of(s, name, binary_of(name)) is None:
            log(f"starting {name}")
            processes.start(s, name, argv(name))
            if name == "containerd":
                _wait(lambda: socket().exists() and _run(CTR, "--address", str(socket()), "version",
                                                         check=False).returncode == 0,
                      "containerd's socket", timeout)
                from . import images
                images.import_pause(socket())
    _wait(lambda: _node(kubeconfig) is not None, f"node {settings.REAL_NODE_NAME} registered", timeout)
    label_and_advertise_gpus(kubeconfig, node_spec)
    _wait(lambda: _ready(_node(kubeconfig)), f"node {settings.REAL_NODE_NAME} Ready", timeout)


def _kubectl(kubeconfig: pathlib.Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(settings.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
                          input=input, capture_output=True, text=True)


def _node(kubeconfig: pathlib.Path) -> dict | None:
    out = _kubectl(kubeconfig, "get", "node", settings.REAL_NODE_NAME, "-o", "json")
    return json.loads(out.stdout) if out.returncode == 0 else None


def _ready(node: dict | None) -> bool:
    return bool(node) and any(c["type"] == "Ready" and c["status"] == "True"
                              for c in node["status"].get("conditions", []))


def label_and_advertise_gpus(kubeconfig: pathlib.Path, node_spec: dict) -> None:
    """The pool's labels, and fake GPUs in the status (the kubelet keeps extended resources
    it does not manage; it zeroes them when it registers again, so this runs on every up)."""
    wanted = labels(node_spec)
    node = _node(kubeconfig)
    if any(node["metadata"]["labels"].get(k) != v for k, v in wanted.items()):
        _check(_kubectl(kubeconfig, "label", "node", settings.REAL_NODE_NAME, "--overwrite",
                        *(f"{k}={v}" for k, v in wanted.items())))
    gpus = str(node_spec["gpu"]["count"])
    if node["status"].get("capacity", {}).get("nvidia.com/gpu") != gpus or \
            node["status"].get("allocatable", {}).get("nvidia.com/gpu") != gpus:
        patch = {"status": {"capacity": {"nvidia.com/gpu": gpus}, "allocatable": {"nvidia.com/gpu": gpus}}}
        _check(_kubectl(kubeconfig, "patch", "node", settings.REAL_NODE_NAME, "--subresource=status",
                        "--type=merge", "-p", json.dumps(patch)))


def _check(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        raise NodeError(f"{result.args[1:]}: {result.stderr.strip()}")


def _wait(ready, what: str, timeout: float) -> None:
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
    cgroups_down()
    _kill_shims()
    for name in ("containerd", "apiserver-forward"):
        if processes.stop(s, name, binary_of(name)):
            log(f"stopped {name}")
    _unmount_under(state(), containerd_root(), pathlib.Path("/run/containerd"))
    for ns in _pod_netns():
        _run("ip", "netns", "delete", ns, check=False)
    if settings.binary("kube-proxy").exists():
        _run(str(settings.binary("kube-proxy")), "--cleanup", check=False)
    network_down()
    cgroups_down()
    restore_host()
    # Everything but the images (containerd_root) goes: the next up starts clean.
    shutil.rmtree(state(), ignore_errors=True)


def _kill_shims() -> None:
    """The runc shims of our containerd (they outlive it), found by the state path in their arguments."""
    root = str(state())
    for pid, args in _command_lines():
        if args and args[0].endswith("containerd-shim-runc-v2") and root in " ".join(args):
            _kill(pid)


def _command_lines() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process still readable in /proc."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found.append((int(proc.name), (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")))
            except OSError:
                continue
    return found


def host_snapshot() -> dict:
    """What the real node can change on this machine, read from the machine itself: compare one
    taken after ``down`` with one taken before ``up`` (or after an earlier ``down``)."""
    mounts = pathlib.Path("/proc/mounts").read_text().splitlines()
    ours = [str(state()), str(containerd_root()), "/run/containerd", "/var/lib/kubelet"]
    binaries = {CONTAINERD, SOCAT, str(settings.binary("kubelet")), str(settings.binary("kube-proxy"))}
    return {
        "links": sorted(line.split()[0].split("@")[0] for line in _run("ip", "-br", "link").stdout.splitlines()),
        "routes": sorted(_run("ip", "route").stdout.splitlines()),
        # Without counters: another's rules (kind's table, netavark's) count packets meanwhile.
        "nft": _run("nft", "-s", "list", "ruleset").stdout,
        "netns": _pod_netns(),
        "sysctls": {k: _sysctl_path(k).read_text().strip() for k in SYSCTLS if _sysctl_path(k).exists()},
        "dirs": [str(d) for d in HOST_DIRS if d.exists()],
        "cgroups": [str(h / CGROUP_ROOT) for h in _cgroup_hierarchies(unified=True) if (h / CGROUP_ROOT).exists()],
        "mounts": sorted(m.split()[1] for m in mounts if any(m.split()[1].startswith(o) for o in ours)),
        "processes": sorted(args[0] for _, args in _command_lines()
                            if args[0] in binaries or args[0].endswith("containerd-shim-runc-v2")),
    }


def kill_container(container_id: str) -> None:
    """SIGKILL a container's main process, as an OOM kill or a crash would end it
    (`container_id` as pod status gives it: containerd://<id>)."""
    _check(_run(CTR, "--address", str(socket()), "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL",
                container_id.split("://", 1)[1], check=False))


def running() -> dict[str, int | None]:
    s = settings.state_dir()
    return {n: processes.pid_of(s, n, binary_of(n)) for n in PROCESSES}
