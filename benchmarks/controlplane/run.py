"""Control-plane load: N LLMDeployments applied at once on the local control plane.

Measures, for the operator running as the chart's ServiceAccount:
- the time from `kubectl apply` of all N until every one is Ready,
- the operator's own share of each object's way to Ready, apart from the
  control plane's (``operator_share``, from the audit log's timestamps),
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
import datetime
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml
from kubernetes import client, config, watch

from localcluster import audit, cluster, nodes, settings
from localcluster.operator import (
    IDLE_CHART_OPERATOR,
    OPERATOR_NAMESPACE,
    OperatorProcess,
    install_chart,
    service_account_kubeconfig,
)

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


def operator_requests(tail: audit.AuditTail) -> list[dict]:
    """The operator's requests since ``tail`` started, once each (a watch is logged when it starts and ends)."""
    seen = {e["auditID"]: e for e in tail.poll() if OPERATOR_GROUP in e.get("user", {}).get("groups", [])}
    return list(seen.values())


def _when(event: dict) -> float:
    return datetime.datetime.fromisoformat(event["stageTimestamp"].replace("Z", "+00:00")).timestamp()


def _ref(event: dict) -> tuple[str, str, str]:
    ref = event.get("objectRef") or {}
    return ref.get("resource", ""), ref.get("name", ""), ref.get("subresource", "")


def operator_share(events: list[dict], names: list[str], clock: ReadyClock) -> dict[str, list[float]]:
    """Per LLMDeployment:

    - ``create_to_children``: its create (kubectl) -> the operator's first apply of its Deployment (audit log);
    - ``ready_to_status``: its Deployment seen available -> it seen Ready (one watch of both, ``ReadyClock``:
      the audit log has no bodies, so it cannot tell the status write that says Ready from later ones);
    - ``operator``: the sum, the operator's own share of the way to Ready;
    - ``create_to_last_write``: its create -> the operator's last write for it (control plane included);
    - ``create_to_ready``: its create -> it seen Ready.
    """
    writes = [e for e in events
              if e.get("stage") == "ResponseComplete" and e.get("verb") in ("create", "patch", "update")
              and (e.get("objectRef") or {}).get("namespace") == NAMESPACE]
    by_name: dict[str, list[dict]] = collections.defaultdict(list)
    for e in writes:
        by_name[_ref(e)[1]].append(e)
    out: dict[str, list[float]] = collections.defaultdict(list)
    for name in names:
        mine = sorted(by_name.get(name, []), key=_when)
        created = next(_when(e) for e in mine if _ref(e) == ("llmdeployments", name, "") and e["verb"] == "create")
        ours = [e for e in mine if OPERATOR_GROUP in e.get("user", {}).get("groups", [])]
        applied = next(_when(e) for e in ours if _ref(e)[0] == "deployments")
        lag = clock.lag(name)
        out["create_to_children"].append(applied - created)
        out["ready_to_status"].append(lag)
        out["operator"].append(applied - created + lag)
        out["create_to_last_write"].append(max(_when(e) for e in ours) - created)
        out["create_to_ready"].append(clock.ready[name] - created)
    return out


class ReadyClock:
    """When each Deployment was first seen available and each LLMDeployment first seen Ready, by one
    client watching both (so both times carry the same watch delay)."""

    def __init__(self) -> None:
        api = config.new_client_from_config(str(settings.kubeconfig_path()))
        self.apps, self.custom = client.AppsV1Api(api), client.CustomObjectsApi(api)
        self.available: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.watches = [watch.Watch(), watch.Watch()]
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._deployments, daemon=True),
                        threading.Thread(target=self._llmdeployments, daemon=True)]

    def start(self) -> ReadyClock:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        for w in self.watches:
            w.stop()

    def lag(self, name: str) -> float:
        """Available -> Ready; an object never seen available counts from its Ready (0)."""
        return max(0.0, self.ready[name] - self.available.get(name, self.ready[name]))

    def _deployments(self) -> None:
        def seen(d: client.V1Deployment) -> None:
            status = d.status
            if (status and d.spec.replicas and (status.observed_generation or 0) >= d.metadata.generation
                    and (status.available_replicas or 0) >= d.spec.replicas):
                self.available.setdefault(d.metadata.name, time.time())

        self._follow(self.watches[0], seen, self.apps.list_namespaced_deployment, NAMESPACE)

    def _llmdeployments(self) -> None:
        def seen(obj: dict) -> None:
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in (obj.get("status") or {}).get("conditions", [])):
                self.ready.setdefault(obj["metadata"]["name"], time.time())

        self._follow(self.watches[1], seen, self.custom.list_namespaced_custom_object, "modelfleet.io",
                     "v1alpha1", NAMESPACE, "llmdeployments")

    def _follow(self, w: watch.Watch, seen, list_call, *args) -> None:
        """Every event to ``seen`` until stopped; a stream the API server ends is listed and watched again
        (an object that turned ready meanwhile is timed at the new list, a little late)."""
        while not self.stopped.is_set():
            try:
                for event in w.stream(list_call, *args):
                    seen(event["object"])
            except Exception as exc:  # noqa: BLE001 - a broken stream is reopened, never the end of the run
                if not self.stopped.is_set():
                    print(f"ReadyClock: {list_call.__name__}: {exc!r}; watching again", file=sys.stderr)
                time.sleep(0.5)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max": round(ordered[-1], 2)}


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def run(count: int) -> dict:
    layout = nodes.load_layout()
    # One H100 per replica: enough fake GPU nodes for all of them at once.
    cluster.up(nodes.scale_pool(layout, "h100", count // 8 + 2))
    cluster.restart_kwok()  # nodes of an earlier run come back under the same names (see restart_kwok)
    install_chart(settings.binary("helm"), settings.kubeconfig_path(), *IDLE_CHART_OPERATOR)
    state = settings.state_dir() / "bench"
    state.mkdir(parents=True, exist_ok=True)
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
    kubectl("create", "namespace", NAMESPACE)
    operator = OperatorProcess(
        kubeconfig=service_account_kubeconfig(settings.binary("kubectl"), settings.kubeconfig_path(),
                                              state / "kubeconfig"),
        log=state / "operator.log", resync_seconds=60, verbose=False,
        command=str(Path(sys.executable).parent / "modelfleet"),
    ).start()
    try:
        time.sleep(3)  # let the operator's initial list and watches settle before counting
        since_apply = audit.AuditTail()
        clock = ReadyClock().start()
        started = time.time()
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(llmdeployment(i) for i in range(count)))
        applied = time.time() - started
        while len(clock.ready) < count:
            time.sleep(1)
            if time.time() - started > 1800:
                raise RuntimeError(f"only {len(clock.ready)}/{count} Ready after 1800 s; see {operator.log}")
        all_ready = time.time() - started
        clock.stop()
        ready_at = {name: at - started for name, at in clock.ready.items()}
        time.sleep(5)  # the last status writes reach the audit log
        requests = operator_requests(since_apply)
        shares = operator_share(since_apply.poll(), [f"m{i:03d}" for i in range(count)], clock)
        done = operator.reconciles()
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
            "shares": {k: percentiles(v) for k, v in shares.items() if k != "create_to_ready"},
            "ready_seconds": sorted(round(v, 1) for v in ready_at.values()),
            # Each object from its own create to it seen Ready.
            "create_to_ready_seconds": sorted(round(v, 2) for v in shares["create_to_ready"]),
        }
    finally:
        operator.stop()
        # Wait, so the next user of the cluster starts clean.
        kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=900s", check=False)
        nodes.sync(layout)
        cluster.restart_kwok()


def table(result: dict) -> str:
    rows = [
        ("LLMDeployments applied at once", result["count"]),
        ("kubectl apply of all of them took (s)", result["apply_seconds"]),
        ("time until all Ready (s)", result["all_ready_seconds"]),
        *((f"{label} (s; p50 / p95 / max)", "{p50} / {p95} / {max}".format(**result["shares"][key]))
          for key, label in (("operator", "operator's share: create -> children + Deployment ready -> status"),
                             ("create_to_children", "create -> the operator applies the Deployment"),
                             ("ready_to_status", "Deployment ready -> the operator writes Ready"),
                             ("create_to_last_write", "create -> the operator's last write (control plane included)"))),
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
    parser.add_argument("--json", type=Path, help="also write the whole result (each object's time to Ready) here")
    args = parser.parse_args()
    result = run(args.count)
    text = table(result)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
