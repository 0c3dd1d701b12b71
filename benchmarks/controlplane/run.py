"""Control-plane load: N LLMDeployments applied at once on the local control plane.

Measures, for the operator running as the chart's ServiceAccount:
- the time from `kubectl apply` of all N until every one is Ready,
- the API requests it sent (from the API server's audit log, which records
  every request of that ServiceAccount) per reconcile, by verb,
- its peak resident memory (VmHWM),
- the writes it sent during a quiet period afterwards (a no-op resync writes nothing).

Usage (from the repo root, with the virtualenv built by `make venv`):
    PYTHONPATH=e2e/local .venv/bin/python benchmarks/controlplane/run.py [--count 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from localcluster import audit, cluster, nodes, settings
from localcluster.operator import OPERATOR_NAMESPACE, OperatorProcess, install_chart, service_account_kubeconfig

NAMESPACE = "bench-controlplane"
OPERATOR_GROUP = f"system:serviceaccounts:{OPERATOR_NAMESPACE}"
QUIET_SECONDS = 90


def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
    command = [str(settings.binary("kubectl")), f"--kubeconfig={settings.kubeconfig_path()}", *args]
    return subprocess.run(command, input=input, capture_output=True, text=True, check=check).stdout


def llmdeployment(i: int) -> dict:
    return {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": f"m{i:03d}", "namespace": NAMESPACE},
        "spec": {
            "model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
            "serving": {"maxModelLen": 4096, "maxConcurrency": 4},
            "gpu": {"pools": ["h100"]},
            "cache": {"mode": "none"},
        },
    }


def ready_count() -> int:
    items = json.loads(kubectl("get", "llmd", "-n", NAMESPACE, "-o", "json"))["items"]
    return sum(
        1 for i in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in (i.get("status") or {}).get("conditions", []))
    )


def operator_requests(tail: audit.AuditTail) -> list[dict]:
    """The operator's requests since ``tail`` started, once each (a watch is logged when it starts and ends)."""
    seen = {e["auditID"]: e for e in tail.poll() if OPERATOR_GROUP in e.get("user", {}).get("groups", [])}
    return list(seen.values())


def reconciles(operator: OperatorProcess) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in operator.metrics().splitlines()
               if line.startswith("modelfleet_reconcile_total{"))


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def run(count: int) -> dict:
    layout = nodes.load_layout()
    # One H100 per replica: enough fake GPU nodes for all of them at once.
    cluster.up(nodes.scale_pool(layout, "h100", count // 8 + 2))
    install_chart(settings.binary("helm"), settings.kubeconfig_path())
    state = settings.state_dir() / "bench"
    state.mkdir(parents=True, exist_ok=True)
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    kubectl("create", "namespace", NAMESPACE)
    operator = OperatorProcess(
        kubeconfig=service_account_kubeconfig(settings.binary("kubectl"), settings.kubeconfig_path(),
                                              state / "kubeconfig"),
        log=state / "operator.log", resync_seconds=60,
        command=str(Path(sys.executable).parent / "modelfleet"),
    ).start()
    try:
        time.sleep(3)  # let the operator's initial list and watches settle before counting
        since_apply = audit.AuditTail()
        started = time.monotonic()
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(llmdeployment(i) for i in range(count)))
        applied = time.monotonic() - started
        while ready_count() < count:
            time.sleep(1)
            if time.monotonic() - started > 900:
                raise RuntimeError(f"only {ready_count()}/{count} Ready after 900 s; see {operator.log}")
        all_ready = time.monotonic() - started
        requests = operator_requests(since_apply)
        done = reconciles(operator)
        since_ready = audit.AuditTail()
        time.sleep(QUIET_SECONDS)
        quiet = [r for r in operator_requests(since_ready) if r["verb"] not in ("get", "list", "watch")]
        return {
            "count": count,
            "apply_seconds": round(applied, 1),
            "all_ready_seconds": round(all_ready, 1),
            "reconciles": int(done),
            "requests": len(requests),
            "requests_by_verb": dict(collections.Counter(r["verb"] for r in requests).most_common()),
            "requests_per_reconcile": round(len(requests) / done, 2),
            "writes_per_llmdeployment": round(
                sum(1 for r in requests if r["verb"] in ("create", "patch", "update", "delete")) / count, 2),
            "peak_memory_mib": round(peak_memory_mib(operator.process.pid), 1),
            "writes_in_quiet_period": len(quiet),
            "quiet_seconds": QUIET_SECONDS,
        }
    finally:
        operator.stop()
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        nodes.sync(layout)


def table(result: dict) -> str:
    rows = [
        ("LLMDeployments applied at once", result["count"]),
        ("time until all Ready (s)", result["all_ready_seconds"]),
        ("reconciles", result["reconciles"]),
        ("API requests by the operator", result["requests"]),
        ("API requests per reconcile", result["requests_per_reconcile"]),
        ("writes per LLMDeployment", result["writes_per_llmdeployment"]),
        ("requests by verb", ", ".join(f"{k} {v}" for k, v in result["requests_by_verb"].items())),
        ("operator peak memory (MiB, VmHWM)", result["peak_memory_mib"]),
        (f"writes during {result['quiet_seconds']} s of quiet (resyncs)", result["writes_in_quiet_period"]),
    ]
    return "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    result = run(args.count)
    text = table(result)
    print(text)
    print(json.dumps(result))
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
