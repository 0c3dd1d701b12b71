"""Cold start on the local cluster's real node, by phase, as the operator measures it (status.coldStart).

    make bench-coldstart        # = python benchmarks/coldstart/run.py --repetitions 2

Applies the tiny-Mixtral LLMDeployment of the real-node e2e tests (nodeLocal
cache, the test engine image, the chart's operator running in the cluster),
waits for its first replica, scales it to two, and reads both replicas' cold
starts from ``status.coldStart`` (the operator's own record: pod status,
the kubelet's events, the engine's and the warm-up's log lines; the phases
are described in operator/modelfleet/autoscale/cold_start.py). Then the
first completion through the Service, timed from apply.

Two settings, alternating, each a fresh object (so a fresh compile cache):
``compileCache: true`` (the second replica finds the first one's torch.compile
artifacts in the object's directory on the node) and ``compileCache: false``
(each pod compiles into its own scratch volume). The weights cache stays
warm throughout: its cold case is the pre-pull (8 MB here). The engine-load
phase is the engine container's start to its server listening
(weightsLoaded + compiled + serving). Kubernetes stamps pod times to the
second, log lines to the nanosecond. Writes results.json, results.md and
coldstart.png next to this file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "e2e" / "local"), str(ROOT / "tests"), str(ROOT / "e2e" / "suite")]

import localcluster  # noqa: E402
from localcluster import images, node, operator as local_operator  # noqa: E402
from support.engine_pod import bridge_hub  # noqa: E402
from support.tiny_model import ensure_tiny_model  # noqa: E402
from support.vllm_server import find_vllm_python  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
NAMESPACE = "bench-coldstart"
NAME = "tiny"
REPO = "acme/tiny-mixtral"
PHASES = ["scheduled", "prepullDone", "imagePulled", "engineStarted", "weightsLoaded", "compiled", "serving",
          "warmedUp", "ready"]
ENGINE_LOAD = ("weightsLoaded", "compiled", "serving")


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(localcluster.binary("kubectl")), f"--kubeconfig={localcluster.kubeconfig_path()}",
                           *args], input=input, capture_output=True, text=True, check=check, timeout=120)


def get(*args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def stamp(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def llmd(compile_cache: bool, replicas: int) -> dict:
    return {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "metadata": {"name": NAME},
            "spec": {"model": {"id": REPO}, "engine": {"kind": "vllm", "image": images.engine_image()},
                     "serving": {"maxModelLen": 512, "maxConcurrency": 2}, "gpu": {"pools": ["local"]},
                     "cache": {"mode": "nodeLocal", "compileCache": compile_cache}, "replicas": replicas}}


def engine_pod() -> dict | None:
    pods = get("pods", "-n", NAMESPACE, "-l", f"modelfleet.io/llmdeployment={NAME},app.kubernetes.io/component=engine")
    live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


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


def cold_starts() -> dict[str, dict]:
    """The operator's record of each replica's cold start, by pod name."""
    status = get("llmd", NAME, "-n", NAMESPACE).get("status") or {}
    return {s["replica"]: s for s in (status.get("coldStart") or {}).get("recent", [])}


def wait_recorded(count: int, deadline: float) -> dict[str, dict]:
    while time.time() < deadline:
        recorded = cold_starts()
        if len(recorded) >= count:
            return recorded
        time.sleep(1)
    raise TimeoutError(f"status.coldStart has fewer than {count} replicas")


def one_run(compile_cache: bool) -> dict:
    """Apply, the first replica's cold start and first reply, scale to two, the second's; delete."""
    applied = time.time()
    kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(llmd(compile_cache, 1)))
    deadline = applied + 1200
    while (pod := engine_pod()) is None or condition_time(pod, "Ready") is None:
        if time.time() > deadline:
            raise TimeoutError("no Ready pod after 20 minutes")
        time.sleep(0.5)
    first_reply(get("service", NAME, "-n", NAMESPACE)["spec"]["clusterIP"])
    replied = time.time()
    first = wait_recorded(1, deadline)
    kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(llmd(compile_cache, 2)))
    both = wait_recorded(2, time.time() + 1200)
    (second,) = [s for name, s in both.items() if name not in first]
    # Gone at once (the engine's preStop drains for minutes; nothing is in flight here).
    kubectl("delete", "llmd", NAME, "-n", NAMESPACE, "--wait=false")
    kubectl("delete", "pods", "-n", NAMESPACE, "--all", "--grace-period=0", "--force", check=False)
    while get("pods", "-n", NAMESPACE)["items"]:
        time.sleep(1)
    return {"compile_cache": compile_cache, "first_reply_s": round(replied - applied, 1),
            "first": next(iter(first.values())), "second": second}


def engine_load(sample: dict) -> float:
    return round(sum(sample["phases"].get(p) or 0 for p in ENGINE_LOAD), 1)


def setting(compile_cache: bool) -> str:
    return "compile cache on" if compile_cache else "compile cache off"


def report(runs: list[dict], command: str) -> str:
    lines = ["# Cold start on the real node, by phase", "",
             "The tiny-Mixtral LLMDeployment (nodeLocal cache, vLLM CPU build "
             f"{images.engine_versions()['VLLM_VERSION']}, the chart's operator in the cluster) on this machine "
             "(2 cores, 24 GiB, no GPU): its first replica, then a second one, each a fresh object; the phases are "
             "the operator's own record (`status.coldStart`).", "",
             f"Made with `{command}` on {dt.date.today().isoformat()}; raw numbers in `results.json`.", "",
             "Median seconds per phase (each ends where the next begins; engine load = weightsLoaded + compiled "
             "+ serving):", "",
             "| setting | replica | runs | " + " | ".join(PHASES) + " | engine load | created to Ready |",
             "|---|---|---:|" + "---:|" * (len(PHASES) + 2)]
    for compile_cache in (True, False):
        mine = [r for r in runs if r["compile_cache"] == compile_cache]
        for which in ("first", "second"):
            samples = [r[which] for r in mine]
            if not samples:
                continue
            medians = [_median(s["phases"].get(p) for s in samples) for p in PHASES]
            lines.append(f"| {setting(compile_cache)} | {which} | {len(samples)} | "
                         + " | ".join(_cell(m) for m in medians)
                         + f" | {statistics.median(engine_load(s) for s in samples):.1f}"
                         + f" | **{statistics.median(s['totalSeconds'] for s in samples):.1f}** |")
    lines += ["", "Each run's second replica (engine load, created to Ready, in seconds):", "",
              "| setting | run | engine load | created to Ready |", "|---|---:|---:|---:|"]
    for i, run in enumerate(runs):
        lines.append(f"| {setting(run['compile_cache'])} | {i + 1} | {engine_load(run['second']):.1f} | "
                     f"{run['second']['totalSeconds']:.1f} |")
    replies = [r["first_reply_s"] for r in runs]
    lines += ["", f"`kubectl apply` to the first completion through the Service: {statistics.median(replies):.1f} s "
              f"median ({min(replies):.1f}-{max(replies):.1f} s over {len(replies)} runs).", "",
              "![phases](coldstart.png)", ""]
    return "\n".join(lines)


def _median(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def picture(runs: list[dict], path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [(f"{setting(r['compile_cache'])} #{i + 1} {which}", r[which]) for i, r in enumerate(runs)
            for which in ("first", "second")]
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.4 * len(rows)))
    colors = dict(zip(PHASES, plt.get_cmap("tab10").colors))
    for row, (_, sample) in enumerate(rows):
        left = 0.0
        for phase in PHASES:
            seconds = sample["phases"].get(phase) or 0
            ax.barh(row, seconds, left=left, color=colors[phase], label=phase if row == 0 else None)
            left += seconds
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlabel("seconds from the pod's creation")
    ax.legend(ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=2, help="runs of each setting")
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
    hub = bridge_hub(ensure_tiny_model(python))
    runs = []
    with hub:
        for _ in range(args.repetitions):
            for compile_cache in (True, False):
                runs.append(one_run(compile_cache))
                print(json.dumps(runs[-1]), flush=True)
    command = f"make bench-coldstart  # python benchmarks/coldstart/run.py --repetitions {args.repetitions}"
    (HERE / "results.json").write_text(json.dumps({"command": command, "runs": runs}, indent=2) + "\n")
    (HERE / "results.md").write_text(report(runs, command))
    picture(runs, HERE / "coldstart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
