"""The live part of `make demo`: the operator on the local control plane.

Installs the chart (CRD, RBAC), runs the operator as the chart's
ServiceAccount (the local nodes are kwok fakes whose pods run nothing, so the
operator runs here as a process), applies the examples and shows what the
operator made of them. The cluster stays up afterwards (`make cluster-down`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from localcluster import settings
from localcluster.operator import OperatorProcess, install_chart, service_account_kubeconfig

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "llm"
READY_TIMEOUT = 180


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    command = [str(settings.binary("kubectl")), f"--kubeconfig={settings.kubeconfig_path()}", *args]
    return subprocess.run(command, input=input, capture_output=True, text=True, check=check).stdout


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def main() -> int:
    state = settings.state_dir() / "demo"
    state.mkdir(parents=True, exist_ok=True)
    step("7. Install the chart: CRD, ServiceAccount, least-privilege RBAC, settings")
    install_chart(settings.binary("helm"), settings.kubeconfig_path())
    print(kubectl("get", "crd,clusterrole,serviceaccount", "-A", "-l", "app.kubernetes.io/name=modelfleet"))

    step("8. Run the operator as the chart's ServiceAccount")
    operator = OperatorProcess(
        kubeconfig=service_account_kubeconfig(settings.binary("kubectl"), settings.kubeconfig_path(),
                                              state / "operator-kubeconfig"),
        log=state / "operator.log",
        command=str(Path(sys.executable).parent / "modelfleet"),
    ).start()
    print(f"operator running (pid {operator.process.pid}); log: {operator.log}")
    try:
        return show_examples()
    finally:
        operator.stop()
        print(f"\noperator stopped; the cluster is still up: KUBECONFIG={settings.kubeconfig_path()} "
              f"(stop it with `make cluster-down`)")


# The local cluster has no storage provisioner: one ReadWriteMany volume stands in
# for the shared storage (NFS, Filestore, EFS...) the pvc cache mode expects.
SHARED_VOLUME = """
apiVersion: v1
kind: PersistentVolume
metadata: {name: modelfleet-demo-shared-cache}
spec:
  capacity: {storage: 1Ti}
  accessModes: [ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /var/lib/modelfleet-demo}
"""


def provide_shared_volume() -> None:
    phase = kubectl("get", "pv", "modelfleet-demo-shared-cache", "-o", "jsonpath={.status.phase}", check=False)
    if phase == "Released":  # left over from an earlier demo: make it available again
        kubectl("delete", "pv", "modelfleet-demo-shared-cache")
    kubectl("apply", "-f", "-", input=SHARED_VOLUME)


def show_examples() -> int:
    step(f"9. Apply the examples in namespace {NAMESPACE}")
    provide_shared_volume()
    kubectl("create", "namespace", NAMESPACE, check=False)
    # The 8x22B example reads a gated repo's token from this Secret (kwok pods never use it).
    kubectl("-n", NAMESPACE, "create", "secret", "generic", "hf-token", "--from-literal=token=hf_placeholder",
            check=False)
    print(kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "examples")))

    step("10. Wait until every LLMDeployment is Ready")
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and not all_ready():
        time.sleep(2)
    print(kubectl("get", "llmd", "-A"))

    step("11. Where the engine pods landed")
    print(pod_placement())

    step("12. The plan and conditions of one of them (kubectl describe)")
    describe = kubectl("describe", "llmd", "mixtral-8x7b", "-n", NAMESPACE)
    print(describe[describe.find("Status:"):])
    return 0 if all_ready() else 1


def all_ready() -> bool:
    items = json.loads(kubectl("get", "llmd", "-n", NAMESPACE, "-o", "json"))["items"]
    return bool(items) and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get("conditions", []))
        for i in items
    )


def pod_placement() -> str:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    product = {n["metadata"]["name"]: n["metadata"]["labels"].get("nvidia.com/gpu.product", "-") for n in nodes}
    pods = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-o", "json"))["items"]
    rows = [("POD", "PHASE", "NODE", "GPU PRODUCT", "GPUS")]
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        node = pod["spec"].get("nodeName", "-")
        gpus = sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
                   for c in pod["spec"]["containers"])
        rows.append((pod["metadata"]["name"], pod["status"].get("phase", "?"), node, product.get(node, "-"), str(gpus)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


if __name__ == "__main__":
    sys.exit(main())
