"""What the real node changes on this machine (network, nft and iptables, sysctls, directories)
and how ``down`` undoes exactly that.

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

import json
import pathlib
import shutil
import subprocess
from typing import Any

from . import hostsysctls, settings
from .node_files import state

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
# Who holds the sysctls (hostsysctls) for the real node.
SYSCTL_HOLDER = "local-cluster"
# The tables iptables-nft keeps the kubelet's chains in.
IPTABLES_TABLES = [(family, table) for family in ("ip", "ip6") for table in ("filter", "nat", "mangle", "raw")]


def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, input=input)


def sysctl_path(key: str) -> pathlib.Path:
    return pathlib.Path("/proc/sys") / key.replace(".", "/")


def save_host() -> None:
    """Record, once, what the host looked like before the first up, and hold the sysctls we change (the
    record is the hold's witness: it exists while the real node is up)."""
    saved = state() / "host-before.json"
    if not saved.exists():
        before = {
            "dirs": [str(d) for d in HOST_DIRS if d.exists()],
            "nft": run("nft", "-s", "list", "ruleset").stdout,
            # Read by an older checkout's down, which restores them itself; ours releases them (held).
            "sysctls": {k: sysctl_path(k).read_text().strip() for k in SYSCTLS if sysctl_path(k).exists()},
            "held": True,
        }
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(before, indent=2))
    hostsysctls.hold(SYSCTL_HOLDER, saved, SYSCTLS)


def restore_host() -> None:
    """Remove what the real node added to the host and nothing else (see the module docstring)."""
    saved = state() / "host-before.json"
    before: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {"dirs": [], "nft": ""}
    remove_our_nft(before["nft"])
    if not before.get("held"):  # saved by an older checkout's up, which held nothing: put them back as saved
        for key, value in before.get("sysctls", {}).items():
            sysctl_path(key).write_text(value)
    hostsysctls.release(SYSCTL_HOLDER)
    for d in HOST_DIRS:
        if str(d) not in before["dirs"] and d.exists():
            unmount_under(d)
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
    run("nft", "delete", "table", "inet", NFT_TABLE, check=False)
    for family in ("ip", "ip6"):
        if (family, "kube-proxy") not in had_tables:
            run("nft", "delete", "table", family, "kube-proxy", check=False)
    for family, table in IPTABLES_TABLES:
        listed = run("nft", "-j", "list", "table", family, table, check=False)
        if listed.returncode != 0:
            continue
        items = [next(iter(i.items())) for i in json.loads(listed.stdout)["nftables"]]
        chains = {c["name"]: c for kind, c in items if kind == "chain"}
        rules = [r for kind, r in items if kind == "rule"]
        ours = {name for name in chains if name.startswith("KUBE-") and (family, table, name) not in had_chains}
        for rule in rules:
            if rule["chain"] not in ours and _jumps_to(rule) & ours:
                run("nft", "delete", "rule", family, table, rule["chain"], "handle", str(rule["handle"]))
        for name in ours:
            run("nft", "flush", "chain", family, table, name)
        for name in ours:
            run("nft", "delete", "chain", family, table, name)
        left = {name for name in chains if name not in ours}
        for name in sorted(left):
            empty = not any(r["chain"] == name for r in rules if not _jumps_to(r) & ours)
            if "hook" in chains[name] and empty and (family, table, name) not in had_chains:
                run("nft", "delete", "chain", family, table, name)
                left.discard(name)
        if not left and (family, table) not in had_tables:
            run("nft", "delete", "table", family, table, check=False)


def _jumps_to(rule: dict[str, Any]) -> set[str]:
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
            sysctl_path(key).write_text(value)
    if run("ip", "link", "show", settings.BRIDGE, check=False).returncode != 0:
        run("ip", "link", "add", settings.BRIDGE, "type", "bridge")
    prefix = settings.POD_CIDR.split("/")[1]
    run("ip", "addr", "replace", f"{settings.BRIDGE_IP}/{prefix}", "dev", settings.BRIDGE)
    run("ip", "link", "set", settings.BRIDGE, "up")
    # Pods and Services: all of 198.18.0.0/15 to the bridge, never to the default route.
    run("ip", "route", "replace", settings.REAL_NODE_RANGE, "dev", settings.BRIDGE)
    # What arrives from the bridge may go back to it (pod to pod, pod to Service) or to the
    # host itself (input), never anywhere else.
    run("nft", "-f", "-", input=f"""
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
    run("nft", "delete", "table", "inet", NFT_TABLE, check=False)
    run("ip", "route", "del", settings.REAL_NODE_RANGE, "dev", settings.BRIDGE, check=False)
    run("ip", "link", "del", settings.BRIDGE, check=False)


def unmount_under(*roots: pathlib.Path) -> None:
    """Lazily unmount every mount point below `roots`, deepest first."""
    prefixes = [str(r.resolve()) for r in roots]
    mounts = [line.split()[1].replace("\\040", " ") for line in pathlib.Path("/proc/mounts").read_text().splitlines()]
    for point in sorted({m for m in mounts if any(m == p or m.startswith(p + "/") for p in prefixes)},
                        key=len, reverse=True):
        run("umount", "-l", point, check=False)


def pod_netns() -> list[str]:
    """The pods' network namespaces: under our containerd's state, and in /var/run/netns where an older
    checkout's containerd (without netns_mounts_under_state_dir) put them."""
    return sorted(str(p) for p in [*_legacy_pod_netns(), *state().glob("containerd/state/*/netns/cni-*")])


def _legacy_pod_netns() -> list[pathlib.Path]:
    return list(pathlib.Path("/var/run/netns").glob("cni-*"))


def remove_legacy_pod_netns() -> None:
    """The namespaces an older checkout's containerd left in /var/run/netns (their processes are gone by
    now). Ours, under the state, are unmounted and removed with the rest of it."""
    for path in _legacy_pod_netns():
        run("ip", "netns", "delete", path.name, check=False)
