"""up / down / status of the local control plane.

`up` is idempotent: it starts only what is not running, then waits until the
API server is ready, every node of the layout is Ready and the default
ServiceAccount exists. State lives in settings.state_dir(), never in the repo.
"""
from __future__ import annotations

import json
import pathlib
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from . import certs, components, images, kubeconfigs, node, node_files, nodes, processes, settings

BUILD_SCRIPT = settings.LOCAL_DIR / "build.sh"


class ClusterError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"local-cluster: {msg}", file=sys.stderr, flush=True)


def ensure_binaries() -> None:
    """Run build.sh when a binary is missing (cold: tens of minutes)."""
    wanted = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "helm",
              "kubelet", "kube-proxy", "coredns"]
    if all(settings.binary(b).exists() for b in wanted) and (settings.bin_dirs()["kwok"] / "stages").is_dir():
        return
    log(f"building binaries with {BUILD_SCRIPT} (first time only; slow)")
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)


def api_get(path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET from the API server as admin; (status, body), status 0 if unreachable."""
    pki = settings.state_dir() / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    url = f"https://{settings.HOST}:{settings.PORTS['kube-apiserver']}{path}"
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _wait(what: str, ready: Callable[[], bool], timeout: float, state: pathlib.Path, watch: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for name in watch:  # fail fast when a component died instead of waiting out the clock
            if processes.pid_of(state, name, _binary_of(name)) is None:
                raise ClusterError(f"{name} exited while waiting for {what}; see "
                                   f"{state / 'logs' / (name + '.log')}:\n{_tail(state, name)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def _binary_of(name: str) -> str:
    return str(settings.binary(name))


def _tail(state: pathlib.Path, name: str, lines: int = 20) -> str:
    try:
        return "\n".join((state / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _etcd_healthy() -> bool:
    url = f"http://{settings.HOST}:{settings.PORTS['etcd-client']}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            health: object = json.loads(resp.read()).get("health")
        return health == "true"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _nodes_ready(names: list[str]) -> bool:
    code, body = api_get("/api/v1/nodes?labelSelector=" + nodes.OWNED + "%3Dtrue")
    if code != 200:
        return False
    ready = {n["metadata"]["name"] for n in json.loads(body)["items"]
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
    return set(names) <= ready


def up(layout: nodes.Obj | None = None, timeout: float = 180.0) -> pathlib.Path:
    """Start what is not running (the real node too), sync the node layout, build and
    import modelfleet's images, wait until usable. Returns the admin kubeconfig path.
    The test engine image (vLLM, ~7 GB) is built by what needs it: images.ensure_engine_image()."""
    start = time.monotonic()
    ensure_binaries()
    state = settings.state_dir()
    pki = certs.ensure(state / "pki")
    kcs = kubeconfigs.write_all(state, pki)
    comps = components.all_components(state, kcs)
    by_name = {c.name: c for c in comps}

    def ensure(name: str) -> None:
        if processes.pid_of(state, name, _binary_of(name)) is None:
            log(f"starting {name}")
            processes.start(state, name, by_name[name].argv)

    ensure("etcd")
    _wait("etcd health", _etcd_healthy, timeout, state, ["etcd"])
    ensure("kube-apiserver")
    _wait("kube-apiserver /readyz", lambda: api_get("/readyz")[0] == 200, timeout, state,
          ["etcd", "kube-apiserver"])
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        ensure(name)
    names = nodes.sync(layout or nodes.load_layout(), kcs["admin"])
    node.up(kcs["admin"], timeout)
    images.build_and_import(node_files.socket())
    everything = [c.name for c in comps]
    _wait(f"{len(names)} nodes Ready", lambda: _nodes_ready(names), timeout, state, everything)
    _wait("ServiceAccount default/default",
          lambda: api_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
          timeout, state, everything)
    log(f"up in {time.monotonic() - start:.1f}s; use it with:\n"
        f"  export KUBECONFIG={kcs['admin']}   # context {settings.CONTEXT}\n"
        f"  {settings.binary('kubectl')} get nodes -L nvidia.com/gpu.product")
    return kcs["admin"]


def _components_by_name(state: pathlib.Path) -> dict[str, components.Component]:
    """The components as ``up`` runs them (certificates and kubeconfigs are written only when missing)."""
    return {c.name: c for c in components.all_components(state, kubeconfigs.write_all(state, certs.ensure(
        state / "pki")))}


def stop_apiserver() -> None:
    """An API server outage, for fault tests: stop kube-apiserver alone (everything else keeps running)."""
    processes.stop(settings.state_dir(), "kube-apiserver", _binary_of("kube-apiserver"))


def start_apiserver(timeout: float = 180.0) -> None:
    """The end of the outage: start kube-apiserver again and wait until it is ready."""
    state = settings.state_dir()
    by_name = _components_by_name(state)
    if processes.pid_of(state, "kube-apiserver", _binary_of("kube-apiserver")) is None:
        processes.start(state, "kube-apiserver", by_name["kube-apiserver"].argv)
    _wait("kube-apiserver /readyz", lambda: api_get("/readyz")[0] == 200, timeout, state, ["etcd", "kube-apiserver"])


def restart_kwok(timeout: float = 120.0) -> None:
    """kwok v0.8's node lease controller keeps a deleted node's lease and fails every renewal of a node created
    again under the same name ("the object has been modified"), so the node turns NotReady over and over; a
    fresh kwok starts from the leases as they are. For tests that delete GPU nodes and bring them back."""
    state = settings.state_dir()
    processes.stop(state, "kwok", _binary_of("kwok"))
    by_name = _components_by_name(state)
    processes.start(state, "kwok", by_name["kwok"].argv)
    names = [n["metadata"]["name"] for n in nodes.render(nodes.load_layout())]
    _wait("kwok nodes Ready", lambda: _nodes_ready(names), timeout, state, ["kwok"])


def down(wipe: bool = True) -> None:
    """Stop our processes (reverse start order); by default drop the etcd data so
    the next `up` starts from an empty cluster. Certs and logs stay."""
    state = settings.state_dir()
    node.down()
    for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
        if processes.stop(state, name, _binary_of(name)):
            log(f"stopped {name}")
    if wipe and (state / "etcd").exists():
        shutil.rmtree(state / "etcd")
        log("removed etcd data")


def running() -> dict[str, int | None]:
    state = settings.state_dir()
    names = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    return {**{n: processes.pid_of(state, n, _binary_of(n)) for n in names}, **node.running()}


def is_up() -> bool:
    return all(running().values()) and (settings.state_dir() / "pki" / "admin.crt").exists() \
        and api_get("/readyz")[0] == 200


def status() -> int:
    """Print components, health and nodes; 0 when everything runs and is ready."""
    pids = running()
    for name, pid in pids.items():
        where = sorted(processes.listening_addresses(pid)) if pid else []
        print(f"{name:24} {'running pid ' + str(pid) if pid else 'stopped':18} "
              f"{' '.join(f'{a}:{p}' for a, p in where)}")
    if not all(pids.values()):
        return 1
    code, body = api_get("/readyz")
    print(f"kube-apiserver /readyz: {code} {body.decode(errors='replace').strip()}")
    print(f"kubeconfig: {settings.kubeconfig_path()} (context {settings.CONTEXT})")
    subprocess.run([str(settings.binary("kubectl")), f"--kubeconfig={settings.kubeconfig_path()}",
                    "get", "nodes", "-L", f"{nodes.POOL},nvidia.com/gpu.product,nvidia.com/gpu.count"])
    return 0 if code == 200 else 1
