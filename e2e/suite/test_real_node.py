"""The rendered pods themselves, on a real kubelet: the local cluster's real node.

Everything here runs as a user's cluster runs it: the operator is the chart's
Deployment (from the image built from images/Dockerfile), the engine pods are
exactly what it renders, with only ``spec.engine.image`` pointing at the test
engine image (vLLM's CPU build at the engine tier's version), and the model is
the tiny generated Mixtral, served by the Hub test server on the node's bridge
(the chart's ``hubEndpoint``). The tests run in order and share one
LLMDeployment in nodeLocal mode, because a vLLM start costs about two minutes
on this machine: serve, scale to 2 and back, roll out, restart, delete; the
other cache modes get an LLMDeployment each.

What is asserted is what a user would see: conditions, pods and their
containers' states, completions through the Service's ClusterIP (kube-proxy's
rules on this machine), and vLLM's own request counters.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from modelfleet.render.runtime_containers import WARMUP_PORT
from support.waiting import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e" / "local"))
from localcluster import images, node, settings  # noqa: E402  (e2e/local is not an installed package)

pytestmark = [pytest.mark.e2e, pytest.mark.controlplane, pytest.mark.realnode]

NAME = "tiny"
REPO = "acme/tiny-mixtral"
POOL = "local"
ENGINE_PORT = 8000  # the vLLM engine profile's port
# A vLLM start on two shared cores: load, compile, warm-up.
READY_TIMEOUT = 900
CACHE_ON_NODE = pathlib.Path("/var/lib/modelfleet/cache/huggingface/hub/models--acme--tiny-mixtral")


def llmd(name: str, cache_mode: str, max_model_len: int = 512, **autoscaling) -> dict:
    """The user's LLMDeployment: the tiny model on the real node's pool, the test engine image."""
    return {
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"id": REPO, "revision": "main"},
            "engine": {"kind": "vllm", "image": images.engine_image()},
            "serving": {"maxModelLen": max_model_len, "maxConcurrency": 2},
            "gpu": {"pools": [POOL]},
            "cache": {"mode": cache_mode, **({"size": "1Gi"} if cache_mode != "nodeLocal" else {})},
            **({"autoscaling": {"enabled": True, **autoscaling}} if autoscaling else {"replicas": 1}),
        },
    }


# ------------------------------------------------------------------ reading the cluster

def get(target, *args: str) -> dict:
    return json.loads(target.kubectl("get", *args, "-o", "json").stdout)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind), {})


def ready(obj: dict) -> bool:
    return condition(obj, "Ready").get("status") == "True"


def engine_pods(target, namespace: str, name: str) -> list[dict]:
    selector = f"modelfleet.io/llmdeployment={name},app.kubernetes.io/component=engine"
    return [p for p in get(target, "pods", "-n", namespace, "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def ready_pods(target, namespace: str, name: str) -> list[dict]:
    return [p for p in engine_pods(target, namespace, name) if ready(p)]


def serving(target, namespace: str, name: str, replicas: int) -> dict | None:
    obj = get(target, "llmd", name, "-n", namespace)
    status = obj.get("status") or {}
    if status.get("observedGeneration") == obj["metadata"]["generation"] and ready(obj) \
            and status.get("readyReplicas") == replicas:
        return obj
    return None


def describe_failure(target, namespace: str) -> str:
    """What a person would look at when it does not come up: events, pods, the containers' logs."""
    parts = [target.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout[-4000:],
             target.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout]
    for pod in get(target, "pods", "-n", namespace)["items"]:
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            out = target.kubectl("logs", pod["metadata"]["name"], "-n", namespace, "-c", c["name"], "--tail=30",
                                 check=False)
            parts.append(f"--- {pod['metadata']['name']}/{c['name']}\n{out.stdout[-3000:]}{out.stderr[-500:]}")
    return "\n".join(parts)


def wait_serving(target, namespace: str, name: str, replicas: int, timeout: float = READY_TIMEOUT) -> dict:
    try:
        return wait_for(f"{name}: {replicas} replicas serving", lambda: serving(target, namespace, name, replicas),
                        timeout, interval=2)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{describe_failure(target, namespace)}") from None


# ------------------------------------------------------------------ talking to the engines

def http(url: str, body: dict | None = None, timeout: float = 120) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def complete(base: str, max_tokens: int = 8, prompt: str = "The capital of France is") -> str:
    status, body = http(f"{base}/v1/completions", {"model": REPO, "prompt": prompt, "max_tokens": max_tokens,
                                                   "temperature": 0})
    assert status == 200, body[:500]
    return json.loads(body)["choices"][0]["text"]


def service_url(target, namespace: str, name: str) -> str:
    service = get(target, "service", name, "-n", namespace)
    return f"http://{service['spec']['clusterIP']}:{ENGINE_PORT}"


def pod_url(pod: dict, port: int = ENGINE_PORT) -> str:
    return f"http://{pod['status']['podIP']}:{port}"


def vllm_metric(pod: dict, name: str) -> float:
    """A metric of the pod's own vLLM, summed over its labels."""
    from prometheus_client.parser import text_string_to_metric_families
    status, body = http(f"{pod_url(pod)}/metrics", timeout=10)
    assert status == 200
    total = 0.0
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


def warmup_requests(pod: dict) -> int:
    """How many requests the warm-up sidecar's last warm-up sent, all answered (its /ready body)."""
    status, body = http(pod_url(pod, WARMUP_PORT) + "/ready", timeout=10)
    summary = json.loads(body)["last_warmup"]
    assert status == 200 and summary and summary["outcome"] == "complete" and summary["failed"] == 0, body
    return summary["requests"]


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def hub(target):
    """The Hub test server on the real node's bridge (the chart's hubEndpoint), serving the tiny model."""
    if target.context != "modelfleet-local":
        pytest.fail("test_real_node runs on the local cluster's real node; on kind deselect -m 'not realnode'")
    from support.engine_pod import tiny_model_repos
    from support.hub_server import HubServer
    from support.tiny_model import ensure_tiny_model
    from support.vllm_server import require_vllm_python
    images.ensure_engine_image(node.socket())
    server = HubServer(tiny_model_repos(ensure_tiny_model(require_vllm_python())), host=settings.BRIDGE_IP,
                       port=settings.HUB_PORT)
    with server:
        yield server


@pytest.fixture(scope="module")
def real_namespace(target, chart, hub):
    name = f"e2e-real-{int(time.time())}"
    target.kubectl("create", "namespace", name)
    wait_for("default ServiceAccount", lambda: target.kubectl("get", "serviceaccount", "default", "-n", name,
                                                              check=False).returncode == 0, 30)
    yield name
    target.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def served(target, real_namespace):
    """The nodeLocal LLMDeployment, applied once and Ready (the tests below share it, in order)."""
    applied = time.monotonic()
    target.kubectl("apply", "-n", real_namespace, "-f", "-", input=yaml.safe_dump(
        # The window is short to keep the test short, but spans eight 15 s scrapes: with 30 s (two scrapes)
        # two momentary dips of the 8 clients' queue scaled the fleet down under load, twice, each time
        # killing a second replica still compiling on the shared cores (CI, 2026-11-30).
        llmd(NAME, "nodeLocal", minReplicas=1, maxReplicas=2, targetQueueDepth=1,
             scaleDownStabilizationSeconds=120)))
    obj = wait_serving(target, real_namespace, NAME, 1)
    return {"obj": obj, "ready_after_s": time.monotonic() - applied}


def operator_pod(target) -> dict:
    (pod,) = [p for p in get(target, "pods", "-n", "modelfleet-system", "-l", "app.kubernetes.io/name=modelfleet")
              ["items"] if not p["metadata"].get("deletionTimestamp")]
    return pod


# ------------------------------------------------------------------ the tests, in order

def test_the_operator_runs_as_the_charts_pod_with_its_probes_and_metrics(target, chart, real_namespace):
    """The chart's Deployment, from the image built from images/Dockerfile, on the real node:
    in-cluster config, its RBAC, liveness and metrics as a user gets them."""
    pod = operator_pod(target)
    assert pod["spec"]["nodeName"] == settings.REAL_NODE_NAME and ready(pod)
    (container,) = pod["status"]["containerStatuses"]
    assert container["image"].endswith("ghcr.io/modelfleet/operator:0.1.0") and container["restartCount"] == 0
    assert pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service = get(target, "service", "modelfleet-metrics", "-n", "modelfleet-system")
    status, body = http(f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/metrics")
    assert status == 200 and b"modelfleet_reconcile_total" in body

def test_it_serves_a_completion_through_the_service_after_warm_up(target, real_namespace, served):
    obj = served["obj"]
    assert obj["status"]["plan"]["pool"] == POOL
    (pod,) = ready_pods(target, real_namespace, NAME)
    assert pod["spec"]["nodeName"] == settings.REAL_NODE_NAME
    # Every container of the rendered pod ran: the cache handed over, the weights pre-pulled.
    inits = {c["name"]: c for c in pod["status"]["initContainerStatuses"]}
    assert inits["cache-permissions"]["state"]["terminated"]["exitCode"] == 0
    assert inits["prepull"]["state"]["terminated"]["exitCode"] == 0
    assert inits["warmup"]["ready"] and inits["warmup"]["restartCount"] == 0
    snapshots = list((CACHE_ON_NODE / "snapshots").iterdir())
    assert len(snapshots) == 1 and (snapshots[0] / "model.safetensors").exists()
    assert not (snapshots[0] / "consolidated.safetensors").exists()
    # The warm-up set is all vLLM served before the pod turned Ready: nothing else had reached it.
    assert vllm_metric(pod, "vllm:request_success_total") == warmup_requests(pod) > 0
    text = complete(service_url(target, real_namespace, NAME))
    assert text.strip(), "the engine answered with no text"


def test_load_scales_it_to_two_and_idle_scales_it_back(target, real_namespace, served):
    base = service_url(target, real_namespace, NAME)
    stop = threading.Event()
    failures: list[str] = []

    def load() -> None:  # a client that keeps asking whatever happens to one request
        while not stop.is_set():
            try:
                status, body = http(f"{base}/v1/completions", {"model": REPO, "prompt": "Count: one, two,",
                                                               "max_tokens": 200, "ignore_eos": True}, timeout=300)
                if status != 200:
                    failures.append(f"{status}: {body[:200]!r}")
            except Exception as e:  # noqa: BLE001 - a load generator must not die with its first error
                failures.append(repr(e))
                time.sleep(0.5)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(8):  # 8 at once against --max-num-seqs 2: six wait
            pool.submit(load)
        try:
            (pod,) = ready_pods(target, real_namespace, NAME)
            wait_for("requests waiting in vLLM", lambda: vllm_metric(pod, "vllm:num_requests_waiting") > 0, 120)
            wait_for("desiredReplicas 2", lambda: (get(target, "llmd", NAME, "-n", real_namespace)["status"]
                                                   .get("desiredReplicas") == 2), 180)
            try:
                wait_serving(target, real_namespace, NAME, 2)
            except AssertionError as e:
                raise AssertionError(f"{e}\nclients' failures ({len(failures)}): {failures[-5:]}") from None
            pods = ready_pods(target, real_namespace, NAME)
            second = next(p for p in pods if p["metadata"]["name"] != pod["metadata"]["name"])
            assert second["spec"]["nodeName"] == settings.REAL_NODE_NAME
        finally:
            stop.set()
    assert complete(pod_url(second)).strip(), "the second replica answered with no text"
    wait_serving(target, real_namespace, NAME, 1, timeout=420)  # the 120 s window, then the drain
    # The engines took every core meanwhile; the operator beside them was slow, never restarted.
    (operator,) = operator_pod(target)["status"]["containerStatuses"]
    assert operator["restartCount"] == 0, operator.get("lastState")


def test_a_max_model_len_change_rolls_out_with_never_zero_ready(target, real_namespace, served):
    fewest = []
    done = threading.Event()

    def watch() -> None:  # every second, as a watcher of the Service's backends would
        while not done.is_set():
            fewest.append(len(ready_pods(target, real_namespace, NAME)))
            time.sleep(1)

    before = {p["metadata"]["name"] for p in engine_pods(target, real_namespace, NAME)}
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        target.kubectl("patch", "llmd", NAME, "-n", real_namespace, "--type=merge",
                       "-p", json.dumps({"spec": {"serving": {"maxModelLen": 384}}}))
        wait_for("a new pod Ready", lambda: any(p["metadata"]["name"] not in before
                                                for p in ready_pods(target, real_namespace, NAME)), READY_TIMEOUT, 2)
        wait_serving(target, real_namespace, NAME, 1)
        wait_for("old pods gone", lambda: not before & {p["metadata"]["name"]
                                                         for p in engine_pods(target, real_namespace, NAME)}, 600, 2)
    finally:
        done.set()
        watcher.join()
    assert min(fewest) >= 1, f"ready replicas seen during the rollout: {fewest}"
    (pod,) = ready_pods(target, real_namespace, NAME)
    status, body = http(f"{pod_url(pod)}/v1/models")
    assert json.loads(body)["data"][0]["max_model_len"] == 384


def test_a_killed_engine_restarts_and_takes_no_request_before_warm_up(target, real_namespace, served):
    # One replica and nothing else: the rollout's old pod drains for its preStop (minutes), and while
    # no endpoint is ready kube-proxy sends traffic to serving, terminating ones; it would answer
    # the clients below in the restarted replica's place.
    selector = f"modelfleet.io/llmdeployment={NAME},app.kubernetes.io/component=engine"
    for old in get(target, "pods", "-n", real_namespace, "-l", selector)["items"]:
        if old["metadata"].get("deletionTimestamp"):
            target.kubectl("delete", "pod", old["metadata"]["name"], "-n", real_namespace, "--grace-period=0",
                           "--force", check=False)
    wait_for("no terminating engine pod", lambda: len(get(target, "pods", "-n", real_namespace, "-l",
                                                          selector)["items"]) == 1, 120, 1)
    (pod,) = ready_pods(target, real_namespace, NAME)
    engine = next(c for c in pod["status"]["containerStatuses"] if c["name"] == "engine")
    node.kill_container(engine["containerID"])
    wait_for("the pod unready", lambda: not any(ready(p) for p in engine_pods(target, real_namespace, NAME)), 120, 1)
    base = service_url(target, real_namespace, NAME)
    answered: list[float] = []  # when each of the clients' requests was answered 200
    stop = threading.Event()

    def knock() -> None:  # clients keep coming while it is down, and stop after three answers
        while not stop.is_set() and len(answered) < 3:
            try:
                if http(f"{base}/v1/completions", {"model": REPO, "prompt": "Hello", "max_tokens": 2},
                        timeout=5)[0] == 200:
                    answered.append(time.time())
            except OSError:
                pass
            time.sleep(0.2)

    knocker = threading.Thread(target=knock, daemon=True)
    knocker.start()
    try:
        wait_serving(target, real_namespace, NAME, 1)
        wait_for("three answers through the Service", lambda: len(answered) >= 3, 120)
    finally:
        stop.set()
        knocker.join()
    (again,) = ready_pods(target, real_namespace, NAME)
    engine = next(c for c in again["status"]["containerStatuses"] if c["name"] == "engine")
    assert again["metadata"]["name"] == pod["metadata"]["name"] and engine["restartCount"] == 1
    # The restarted vLLM counts from zero: it served the warm-up set and the three answers, nothing else,
    # and the first answer came once the pod was Ready (its condition is stamped to the second).
    # vLLM's counters trail the answers by a moment: wait for the three, then none may be extra.
    expected = warmup_requests(again) + 3
    counted = wait_for("vLLM counting the three answers", lambda: (
        n := vllm_metric(again, "vllm:request_success_total")) >= expected and n, 30)
    assert counted == expected
    ready_at = next(c for c in again["status"]["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
    assert answered[0] >= dt.datetime.fromisoformat(ready_at.replace("Z", "+00:00")).timestamp() - 1


def test_delete_removes_every_child_and_keeps_the_node_cache(target, real_namespace, served):
    target.kubectl("delete", "llmd", NAME, "-n", real_namespace, "--wait=true", timeout=600)
    kinds = "deployments,replicasets,services,poddisruptionbudgets,daemonsets,persistentvolumeclaims,pods"
    wait_for("no children left", lambda: not get(target, kinds, "-n", real_namespace, "-l",
                                                 f"modelfleet.io/llmdeployment={NAME}")["items"], 600, 2)
    # The nodeLocal cache is the node's, not the LLMDeployment's (docs/cache.md): it stays for the
    # next replica of the same model on that node.
    assert list((CACHE_ON_NODE / "snapshots").iterdir())


@pytest.mark.parametrize("mode", ["none", "pvc"])
def test_each_cache_mode_prepulls_and_loads_offline(target, real_namespace, mode, tmp_path):
    name = f"tiny-{mode}"
    if mode == "pvc":
        # A local PersistentVolume for the PVC the operator renders (any class, ReadWriteMany).
        volume_dir = tmp_path / "pv"
        volume_dir.mkdir()
        target.kubectl("apply", "-f", "-", input=yaml.safe_dump({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{real_namespace}-{name}"},
            "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteMany"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "",
                     "hostPath": {"path": str(volume_dir), "type": "Directory"},
                     "claimRef": {"namespace": real_namespace, "name": f"{name}-cache"}}}))
    target.kubectl("apply", "-n", real_namespace, "-f", "-", input=yaml.safe_dump(llmd(name, mode)))
    wait_serving(target, real_namespace, name, 1)
    assert complete(service_url(target, real_namespace, name)).strip()
    target.kubectl("delete", "llmd", name, "-n", real_namespace, "--wait=true", timeout=600)
