"""Cold start on the local cluster's real node: from `kubectl apply` to the first completion.

    make bench-coldstart        # = python benchmarks/coldstart/run.py --repetitions 3

Applies the tiny-Mixtral LLMDeployment of the real-node e2e tests (nodeLocal
cache, the test engine image, the chart's operator running in the cluster)
and splits the time into the phases a user waits through, read from the
pod's own status and from the engine itself:

  scheduled   apply -> the pod's PodScheduled condition
  pre-pull    -> the prepull init container finished (weights in the cache)
  engine load -> vLLM's /health first answers (read from the pod IP every 0.5 s)
  warm-up     -> the pod's Ready condition (the warm-up sidecar gates it)
  first reply -> a completion through the Service's ClusterIP returns

"cold": the node's cache holds nothing of the model (the directory is removed
first); "warm": the same LLMDeployment applied again on the cache the cold run
filled (the pre-pull finds every file in place, vLLM's compile cache is warm).
Kubernetes stamps conditions to the second, so each phase is +-1 s.
Writes results.json, results.md and coldstart.png next to this file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "e2e" / "local"), str(ROOT / "tests"), str(ROOT / "e2e" / "suite")]

import localcluster  # noqa: E402
from localcluster import images, node, operator as local_operator, settings  # noqa: E402
from support.engine_pod import tiny_model_repos  # noqa: E402
from support.hub_server import HubServer  # noqa: E402
from support.tiny_model import ensure_tiny_model  # noqa: E402
from support.vllm_server import find_vllm_python  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
NAMESPACE = "bench-coldstart"
NAME = "tiny"
REPO = "acme/tiny-mixtral"
NODE_CACHE = pathlib.Path("/var/lib/modelfleet/cache/huggingface/hub/models--acme--tiny-mixtral")
PHASES = ["scheduled", "pre-pull", "engine load", "warm-up", "first reply"]


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(localcluster.binary("kubectl")), f"--kubeconfig={localcluster.kubeconfig_path()}",
                           *args], input=input, capture_output=True, text=True, check=check, timeout=120)


def get(*args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def stamp(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def llmd() -> dict:
    return {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "metadata": {"name": NAME},
            "spec": {"model": {"id": REPO}, "engine": {"kind": "vllm", "image": images.engine_image()},
                     "serving": {"maxModelLen": 512, "maxConcurrency": 2}, "gpu": {"pools": ["local"]},
                     "cache": {"mode": "nodeLocal"}, "replicas": 1}}


def engine_pod() -> dict | None:
    pods = get("pods", "-n", NAMESPACE, "-l", f"modelfleet.io/llmdeployment={NAME},app.kubernetes.io/component=engine")
    live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def healthy(pod: dict) -> bool:
    ip = pod["status"].get("podIP")
    if not ip:
        return False
    try:
        with urllib.request.urlopen(f"http://{ip}:8000/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def condition_time(pod: dict, kind: str) -> float | None:
    for c in pod["status"].get("conditions", []):
        if c["type"] == kind and c["status"] == "True":
            return stamp(c["lastTransitionTime"])
    return None


def first_reply(service_ip: str) -> None:
    body = json.dumps({"model": REPO, "prompt": "The capital of France is", "max_tokens": 8}).encode()
    request = urllib.request.Request(f"http://{service_ip}:8000/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200


def one_run(cache: str) -> dict:
    """Apply, follow the pod to its first reply, delete; the phases' end times from apply."""
    if cache == "cold":
        shutil.rmtree(NODE_CACHE, ignore_errors=True)
    applied = time.time()
    kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(llmd()))
    engine_healthy = None
    deadline = applied + 1200
    while True:
        if time.time() > deadline:
            raise TimeoutError("no Ready pod after 20 minutes")
        pod = engine_pod()
        if pod is not None:
            if engine_healthy is None and healthy(pod):
                engine_healthy = time.time()
            if condition_time(pod, "Ready"):
                break
        time.sleep(0.5)
    service_ip = get("service", NAME, "-n", NAMESPACE)["spec"]["clusterIP"]
    first_reply(service_ip)
    replied = time.time()
    inits = {c["name"]: c for c in pod["status"]["initContainerStatuses"]}
    ends = {
        "scheduled": condition_time(pod, "PodScheduled"),
        "pre-pull": stamp(inits["prepull"]["state"]["terminated"]["finishedAt"]),
        "engine load": engine_healthy,
        "warm-up": condition_time(pod, "Ready"),
        "first reply": replied,
    }
    # Gone at once (the engine's preStop drains for minutes; nothing is in flight here).
    kubectl("delete", "llmd", NAME, "-n", NAMESPACE, "--wait=false")
    kubectl("delete", "pods", "-n", NAMESPACE, "--all", "--grace-period=0", "--force", check=False)
    while get("pods", "-n", NAMESPACE)["items"]:
        time.sleep(1)
    return {"cache": cache, "ends_s": {k: round(v - applied, 1) for k, v in ends.items()}}


def durations(run: dict) -> dict[str, float]:
    previous, out = 0.0, {}
    for phase in PHASES:
        end = max(run["ends_s"][phase], previous)  # a stamp rounded to the second may fall before the last
        out[phase] = round(end - previous, 1)
        previous = end
    return out


def report(runs: list[dict], command: str) -> str:
    lines = ["# Cold start on the real node", "",
             "From `kubectl apply` of the tiny-Mixtral LLMDeployment (nodeLocal cache, vLLM CPU build "
             f"{images.engine_versions()['VLLM_VERSION']}, the chart's operator in the cluster) to the first "
             "completion through the Service, on this machine (2 cores, 24 GiB, no GPU).", "",
             f"Made with `{command}` on {dt.date.today().isoformat()}; raw numbers in `results.json`.", "",
             "Median seconds per phase (each phase ends where the next begins):", "",
             "| cache | runs | " + " | ".join(PHASES) + " | total |", "|---|---:|" + "---:|" * (len(PHASES) + 1)]
    for cache in ("cold", "warm"):
        mine = [durations(r) for r in runs if r["cache"] == cache]
        if not mine:
            continue
        medians = {p: statistics.median(d[p] for d in mine) for p in PHASES}
        total = statistics.median(sum(d.values()) for d in mine)
        lines.append(f"| {cache} | {len(mine)} | " + " | ".join(f"{medians[p]:.1f}" for p in PHASES)
                     + f" | **{total:.1f}** |")
    lines += ["", where_the_time_goes(runs), "", "![phases](coldstart.png)", ""]
    return "\n".join(lines)


def where_the_time_goes(runs: list[dict]) -> str:
    """The phase that costs most, cold and warm, in words."""
    parts = []
    for cache in ("cold", "warm"):
        mine = [durations(r) for r in runs if r["cache"] == cache]
        if mine:
            medians = {p: statistics.median(d[p] for d in mine) for p in PHASES}
            total = sum(medians.values())
            top = max(medians, key=medians.get)
            parts.append(f"{cache}: {top} {medians[top]:.1f} of {total:.1f} s ({100 * medians[top] / total:.0f} %)")
    return ("Where the time goes (medians): " + "; ".join(parts) + ". Engine load is vLLM starting: Python and "
            "torch imports, the weights, torch.compile of the model (its cache on the node spares little on a CPU). "
            "The pre-pull of this 8 MB model is a few seconds either way; a real checkpoint's download is the "
            "cold cache's cost on a GPU node, and the warm cache's saving.")


def picture(runs: list[dict], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * len(runs)))
    colors = dict(zip(PHASES, ["#999999", "#4c72b0", "#dd8452", "#55a868", "#c44e52"]))
    for row, run in enumerate(runs):
        left = 0.0
        for phase, seconds in durations(run).items():
            ax.barh(row, seconds, left=left, color=colors[phase], label=phase if row == 0 else None)
            left += seconds
    ax.set_yticks(range(len(runs)), [f"{r['cache']} #{i + 1}" for i, r in enumerate(runs)])
    ax.invert_yaxis()
    ax.set_xlabel("seconds from kubectl apply")
    ax.legend(ncol=len(PHASES), loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(runs) < 4 else -0.2),
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=3, help="cold and warm runs each")
    args = parser.parse_args()
    localcluster.up()
    local_operator.install_chart(localcluster.binary("helm"), localcluster.kubeconfig_path(),
                                 "-f", str(ROOT / "e2e" / "local" / "values.yaml"))
    kubectl("rollout", "status", "deployment/modelfleet", "-n", local_operator.OPERATOR_NAMESPACE, "--timeout=300s")
    kubectl("create", "namespace", NAMESPACE, check=False)
    images.ensure_engine_image(node.socket())
    python = find_vllm_python()
    if python is None:
        sys.exit("the vLLM CPU virtualenv is missing: bash e2e/engine/venv.sh")
    hub = HubServer(tiny_model_repos(ensure_tiny_model(python)), host=settings.BRIDGE_IP, port=settings.HUB_PORT)
    runs = []
    with hub:
        for _ in range(args.repetitions):
            for cache in ("cold", "warm"):
                runs.append(one_run(cache))
                print(json.dumps(runs[-1]), flush=True)
    command = f"make bench-coldstart  # python benchmarks/coldstart/run.py --repetitions {args.repetitions}"
    (HERE / "results.json").write_text(json.dumps({"command": command, "runs": runs}, indent=2) + "\n")
    (HERE / "results.md").write_text(report(runs, command))
    picture(runs, HERE / "coldstart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
