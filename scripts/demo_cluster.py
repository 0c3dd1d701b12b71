"""The live part of `make demo`: the operator on the local control plane, a kwok GPU fleet, and one
real model answering on the real node.

The chart is installed as a user installs it, with the local cluster's values
(e2e/local/values.yaml): the operator runs as the chart's Deployment on the
real node, and the Hub test server (tests/support/hub_server.py) on the node's
bridge stands in for huggingface.co. The examples go to the kwok GPU pools
(scheduled and Ready, nothing runs); then a tiny generated Mixtral goes to the
real node's pool, where the pods the operator renders really run: pre-pull,
vLLM's CPU build, the warm-up gate, a chat completion through the Service.

Every step that waits says which step failed and prints the failing objects'
conditions and events. The cluster stays up afterwards (`make cluster-down`).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from localcluster import images, node_files, settings
from localcluster.operator import OPERATOR_NAMESPACE, RELEASE, install_chart
from modelfleet.api.hub_token import HUB_TOKEN_LABEL, HUB_TOKEN_LABEL_VALUE, TokenReader
from modelfleet.api.status import COLD_START_PHASES, ColdStart

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Hub test server and the tiny model of the real-node tests
from support.engine_pod import TINY_REPO, bridge_hub  # noqa: E402
from support.hub_server import HubServer  # noqa: E402
from support.tiny_model import ensure_tiny_model  # noqa: E402
from support.waiting import wait_for  # noqa: E402

NAMESPACE = "llm"
LOCAL_VALUES = ROOT / "e2e" / "local" / "values.yaml"
FLEET_READY_TIMEOUT = 180
# A vLLM start on two shared cores: load, torch.compile, warm-up (about 100 s, more when cold).
REAL_READY_TIMEOUT = 900
REAL_NAME = "tiny-mixtral"
ENGINE_PORT = 8000  # the vLLM profile's port, the Service's too
# The 8x22B example reads a gated repo's token from this Secret; the operator mounts only Secrets that opt
# in with this label (the kwok pods never use the placeholder token).
TOKEN_SECRET = "hf-token"
TOKEN_OPT_IN = f"{HUB_TOKEN_LABEL}={HUB_TOKEN_LABEL_VALUE}"


class StepFailed(Exception):
    """A step that did not reach its goal; ``objects`` are the LLMDeployments to report on."""

    def __init__(self, message: str, objects: list[str]) -> None:
        super().__init__(message)
        self.objects = objects


def kubectl(*args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> str:
    command = [str(settings.binary("kubectl")), f"--kubeconfig={settings.kubeconfig_path()}", *args]
    return subprocess.run(command, input=input, capture_output=True, text=True, check=check,
                          timeout=timeout).stdout


def get_json(*args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json"))


CURRENT_STEP = ""


def step(title: str) -> None:
    global CURRENT_STEP
    CURRENT_STEP = title
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def main() -> int:
    try:
        with hub_on_the_bridge():
            install_operator()
            show_kwok_fleet()
            serve_on_the_real_node()
    except StepFailed as e:
        print(f"\n\033[1mmake demo failed at step {CURRENT_STEP}\033[0m\n{e}\n", flush=True)
        for name in e.objects:
            print(why_not_ready(name))
        return 1
    print(f"\nThe cluster is still up: export KUBECONFIG={settings.kubeconfig_path()} "
          f"(stop it with `make cluster-down`). Steps 13-16 by hand, command by command: docs/local-cluster.md")
    return 0


# ------------------------------------------------------------------ the operator and the Hub


@contextmanager
def hub_on_the_bridge() -> Iterator[HubServer]:
    """The Hub test server where the chart's hubEndpoint (e2e/local/values.yaml) points, with the tiny model."""
    step("7. A Hub for the cluster: the test Hub server on the real node's bridge, with a tiny generated Mixtral")
    model = ensure_tiny_model(images.engine_venv() / "bin" / "python")
    with bridge_hub(model) as hub:
        print(f"{hub.url} serves {TINY_REPO} ({', '.join(sorted(p.name for p in model.iterdir()))})")
        yield hub


def install_operator() -> None:
    step("8. Install the chart: CRD, RBAC, and the operator as its Deployment, on the real node")
    install_chart(settings.binary("helm"), settings.kubeconfig_path(), "-f", str(LOCAL_VALUES))
    kubectl("rollout", "status", f"deployment/{RELEASE}", "-n", OPERATOR_NAMESPACE, "--timeout=180s", timeout=200)
    print(kubectl("get", "crd,clusterrole", "-l", "app.kubernetes.io/name=modelfleet"))
    print(kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide"))


# ------------------------------------------------------------------ the kwok fleet


def show_kwok_fleet() -> None:
    step(f"9. Apply the examples in namespace {NAMESPACE} (kwok GPU pools: scheduled and Ready, nothing runs)")
    provide_shared_volume()
    kubectl("create", "namespace", NAMESPACE, check=False)
    kubectl("-n", NAMESPACE, "create", "secret", "generic", TOKEN_SECRET, "--from-literal=token=hf_placeholder",
            check=False)
    kubectl("-n", NAMESPACE, "label", "secret", TOKEN_SECRET, TOKEN_OPT_IN, "--overwrite")
    # The namespace's admin lets the operator read token Secrets' labels here (the chart's default,
    # tokenSecretAccess: perNamespace, grants it nowhere): mixtral-8x22b names hf-token.
    grant = TokenReader.of_release(RELEASE, OPERATOR_NAMESPACE).grant_command(NAMESPACE)
    print(f"$ {grant}")
    kubectl(*grant.split()[1:], check=False)  # already there on a second run
    print(kubectl("apply", "-n", NAMESPACE, "-f", str(ROOT / "examples")))
    examples = [d["metadata"]["name"] for d in llmds() if d["metadata"]["name"] != REAL_NAME]

    step("10. Wait until every LLMDeployment is Ready")
    wait_until(lambda: all(is_ready(d) for d in llmds() if d["metadata"]["name"] in examples),
               FLEET_READY_TIMEOUT, f"not every example was Ready after {FLEET_READY_TIMEOUT} s",
               lambda: [d["metadata"]["name"] for d in llmds()
                        if d["metadata"]["name"] in examples and not is_ready(d)])
    print(kubectl("get", "llmd", "-n", NAMESPACE))

    step("11. Where the engine pods landed")
    print(pod_placement(examples))

    step("12. The plan and conditions of one of them (kubectl describe)")
    describe = kubectl("describe", "llmd", "mixtral-8x7b", "-n", NAMESPACE)
    print(describe[describe.find("Status:"):])
    print("(kwok's pods run no engine: no image pull, no logs. The cold start's inner phases come from the kubelet's "
          "Pulled event and the engine's and warm-up's log lines, so here they are named as not observed, with why; "
          "step 18 shows them on the real node)")


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


def pod_placement(names: list[str]) -> str:
    nodes = get_json("nodes")["items"]
    product = {n["metadata"]["name"]: n["metadata"]["labels"].get("nvidia.com/gpu.product", "-") for n in nodes}
    pods = [p for p in get_json("pods", "-n", NAMESPACE)["items"]
            if p["metadata"]["labels"].get("modelfleet.io/llmdeployment") in names]
    rows = [("POD", "PHASE", "NODE", "GPU PRODUCT", "GPUS")]
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        where = pod["spec"].get("nodeName", "-")
        gpus = sum(int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
                   for c in pod["spec"]["containers"])
        rows.append((pod["metadata"]["name"], pod["status"].get("phase", "?"), where, product.get(where, "-"),
                     str(gpus)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


# ------------------------------------------------------------------ a real model on the real node


def real_llmd() -> dict:
    """The user's LLMDeployment: the tiny model on the real node's pool, vLLM's CPU build as the engine image."""
    return {
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
        "metadata": {"name": REAL_NAME},
        "spec": {
            "model": {"id": TINY_REPO},
            "engine": {"kind": "vllm", "image": images.engine_image()},
            "serving": {"maxModelLen": 512, "maxConcurrency": 2},
            "gpu": {"pools": ["local"]},
            "replicas": 1,
        },
    }


def serve_on_the_real_node() -> None:
    step("13. A real model on the real node: the engine image (vLLM's CPU build, built once and cached)")
    print(f"{images.ensure_engine_image(node_files.socket())} is in the real node's containerd")
    if kubectl("get", "llmd", REAL_NAME, "-n", NAMESPACE, check=False, timeout=30):
        kubectl("delete", "llmd", REAL_NAME, "-n", NAMESPACE, "--wait=true", timeout=300)  # an earlier demo's
    manifest = yaml.safe_dump(real_llmd(), sort_keys=False)
    print(manifest)
    applied, applied_at = time.monotonic(), time.time()
    print(kubectl("apply", "-n", NAMESPACE, "-f", "-", input=manifest))

    step("14. The pre-pull: the init container fetches the weights into the node's cache")
    pod = wait_until(engine_pod, 300, "no engine pod was scheduled", lambda: [REAL_NAME])
    wait_until(lambda: container_started(engine_pod() or pod, "prepull"), 300, "the pre-pull did not start",
               lambda: [REAL_NAME])
    print(kubectl("logs", "-f", pod, "-n", NAMESPACE, "-c", "prepull", timeout=600), end="")

    step("15. The warm-up gate: the sidecar keeps the pod unready until vLLM is warm")
    with following(pod, "warmup"):
        wait_until(lambda: is_ready(get_json("llmd", REAL_NAME, "-n", NAMESPACE)), REAL_READY_TIMEOUT,
                   f"{REAL_NAME} was not Ready after {REAL_READY_TIMEOUT} s", lambda: [REAL_NAME])
    print(kubectl("get", "pod", pod, "-n", NAMESPACE, "-o", "wide"))
    print(pod_timeline(get_json("pod", pod, "-n", NAMESPACE), applied_at))

    step("16. One chat completion through the Service")
    service = get_json("service", REAL_NAME, "-n", NAMESPACE)
    url = f"http://{service['spec']['clusterIP']}:{ENGINE_PORT}/v1/chat/completions"
    question = "Name three colours of the rainbow."
    answer = chat(url, question)
    answered_after = time.monotonic() - applied
    print(f"POST {url}\n  user: {question}\n  {TINY_REPO} (random weights, so no sense expected): {answer!r}")
    print(f"\n\033[1mkubectl apply -> first answer: {answered_after:.1f} s\033[0m")

    step("17. kubectl get llmd, with the KV cache the running engine reports (KV SEQS)")
    wait_until(lambda: (get_json("llmd", REAL_NAME, "-n", NAMESPACE).get("status") or {}).get("kvCapacity"),
               120, "the operator did not report the engine's KV capacity", lambda: [REAL_NAME])
    print(kubectl("get", "llmd", "-n", NAMESPACE, "-o", "wide"))
    (sufficient,) = [c for c in get_json("llmd", REAL_NAME, "-n", NAMESPACE)["status"]["conditions"]
                     if c["type"] == "KVCacheSufficient"]
    print(f"KVCacheSufficient={sufficient['status']} {sufficient['reason']}: {sufficient['message']}")
    print("(vLLM's CPU build sizes its KV cache from VLLM_CPU_KVCACHE_SPACE, 1 GiB in the test image, not from the "
          "L4 the real node's labels describe and the plan sized for; on a GPU the two agree: "
          "benchmarks/sizing/kv-capacity.md)")

    step("18. The cold start the operator measured, phase by phase (status.coldStart): what the autoscaler plans with")
    cold = wait_until(lambda: (get_json("llmd", REAL_NAME, "-n", NAMESPACE).get("status") or {}).get("coldStart"),
                      60, "the operator did not record the cold start", lambda: [REAL_NAME])
    print(cold_start_table(ColdStart.model_validate(cold)))


def cold_start_table(cold: ColdStart) -> str:
    """The newest replica's phases in seconds (each ends where the next begins), and the median the policy reads."""
    last = cold.last
    lines = [f"  {phase.replace('_', ' '):20} {seconds_or_dash(getattr(last.phases, phase))}"
             for phase in COLD_START_PHASES]
    lines.append(f"  {'pod created -> Ready':20} {last.total_seconds:5.1f} s  ({last.replica})")
    if last.unobserved:
        lines.append(f"  {last.unobserved}")
    lines.append(f"median over {cold.median.samples} cold start(s): {cold.median.total_seconds:.1f} s; the autoscaler "
                 "scales its look-ahead and burst reserve with it (modelfleet_cold_start_seconds{phase} has them too)")
    return "\n".join(lines)


def seconds_or_dash(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f} s"


def pod_timeline(pod: dict, applied_at: float) -> str:
    """When each gate opened, in seconds after `kubectl apply` (the API server stamps to the second)."""
    status = pod["status"]
    conditions = {c["type"]: c["lastTransitionTime"] for c in status.get("conditions", [])}
    inits = {c["name"]: c["state"] for c in status.get("initContainerStatuses", [])}
    engine = next(c["state"] for c in status.get("containerStatuses", []) if c["name"] == "engine")
    moments = [
        ("scheduled", conditions.get("PodScheduled")),
        ("pre-pull done", inits.get("prepull", {}).get("terminated", {}).get("finishedAt")),
        ("engine started (the warm-up sidecar, started just before it, holds the pod unready)",
         engine.get("running", {}).get("startedAt")),
        ("Ready: the engine answered its health check and the warm-up set", conditions.get("Ready")),
    ]
    return "\n".join(f"  +{max(0.0, seconds(at) - applied_at):4.0f} s  {what}" for what, at in moments if at)


def seconds(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def engine_pod() -> str | None:
    selector = f"modelfleet.io/llmdeployment={REAL_NAME},app.kubernetes.io/component=engine"
    pods = [p for p in get_json("pods", "-n", NAMESPACE, "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]
    return pods[0]["metadata"]["name"] if pods else None


def container_started(pod: str, container: str) -> bool:
    status = get_json("pod", pod, "-n", NAMESPACE)["status"]
    states = {c["name"]: c["state"] for c in status.get("initContainerStatuses", []) + status.get(
        "containerStatuses", [])}
    return any(key in states.get(container, {}) for key in ("running", "terminated"))


@contextmanager
def following(pod: str, container: str) -> Iterator[None]:
    """The container's log, printed as it comes, until the block ends."""
    wait_until(lambda: container_started(pod, container), 300, f"{container} did not start", lambda: [REAL_NAME])
    command = [str(settings.binary("kubectl")), f"--kubeconfig={settings.kubeconfig_path()}", "logs", "-f", pod,
               "-n", NAMESPACE, "-c", container]
    follower = subprocess.Popen(command, stdout=sys.stdout, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        sys.stdout.flush()


def chat(url: str, question: str) -> str:
    body = {"model": TINY_REPO, "messages": [{"role": "user", "content": question}], "max_tokens": 16,
            "temperature": 0}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["choices"][0]["message"]["content"]
    except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
        raise StepFailed(f"the chat completion through the Service failed: {e}", [REAL_NAME]) from None


# ------------------------------------------------------------------ waiting, and saying why not


def llmds() -> list[dict]:
    return get_json("llmd", "-n", NAMESPACE)["items"]


def is_ready(obj: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions", []))


def wait_until(done: Callable, timeout: float, message: str, failing: Callable[[], list[str]]):
    """``done()``'s first truthy value; past ``timeout``, StepFailed naming what ``failing()`` lists."""
    try:
        return wait_for(message, done, timeout, interval=2)
    except AssertionError:
        raise StepFailed(message, failing()) from None


def why_not_ready(name: str) -> str:
    """What a person would read first: the LLMDeployment's conditions, then its and its pods' events."""
    obj = json.loads(kubectl("get", "llmd", name, "-n", NAMESPACE, "-o", "json", check=False) or "{}")
    lines = [f"--- LLMDeployment {NAMESPACE}/{name}: conditions"]
    for c in (obj.get("status") or {}).get("conditions", []):
        lines.append(f"  {c['type']}={c['status']} {c.get('reason', '')}: {c.get('message', '')}")
    lines.append(f"--- events of {name} and its pods")
    events = json.loads(kubectl("get", "events", "-n", NAMESPACE, "-o", "json", check=False) or '{"items": []}')
    for e in sorted(events["items"], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        involved = e["involvedObject"].get("name", "")
        if involved == name or involved.startswith(f"{name}-"):
            lines.append(f"  {e['type']} {e['reason']} {e['involvedObject']['kind']}/{involved}: {e['message']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
