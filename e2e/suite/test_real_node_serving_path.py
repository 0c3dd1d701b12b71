"""The serving path on the real node (issue 27): the router in front of two vLLM replicas, scale to and from zero.

One LLMDeployment of the tiny Mixtral, vLLM only (the router is engine-agnostic; its TGI paths are the engine
tier's and the unit tests'), lives through the module's tests in order, because each engine start costs minutes:

1. created at ``replicas: 0``, then autoscaled with ``minReplicas: 0``: Idle, no engine pod, the routers up;
2. a completion sent through the Service at zero is held by the router, wakes the fleet (0 -> 1) and is answered;
   its wait is printed at the end of the run (conftest.py's "measured"), and ``status.lastWake`` has the
   router's own measure of it;
3. two replicas under load: fewest-in-flight routing keeps both batches full at once;
4. a multi-turn chat workload, with the Service routing at random (``routing.mode: service``) and then with
   prefix affinity: vLLM's own prefix-cache counters (``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``)
   for each, printed as a table;
5. idle again, it goes back to zero after ``scaleToZeroAfterSeconds``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from localcluster import images, node_files
from support.waiting import wait_for
from test_real_node import (  # noqa: F401  (_reach and hub are fixtures this module uses)
    REPO,
    Engine,
    _reach,
    engine_metric,
    engine_pods_with_terminating,
    get,
    http,
    hub,
    llmd,
    ready_pods,
    service_url,
    wait_serving,
)

pytestmark = [pytest.mark.e2e, pytest.mark.controlplane, pytest.mark.realnode]

NAME = "tiny-path"
IDLE_SECONDS = 30  # scaleToZeroAfterSeconds: the API's least
PREFIX_FAMILIES = ("vllm:prefix_cache_hits", "vllm:prefix_cache_queries")


@pytest.fixture(scope="module")
def engine(target, hub) -> Engine:  # noqa: F811
    if target.is_kind:
        pytest.fail("the serving-path tests run on the local cluster's real node (e2e/local), not on kind")
    return Engine("vllm", images.ensure_engine_image(node_files.socket()), "main")


@pytest.fixture(scope="module")
def namespace(target, chart, hub):  # noqa: F811
    name = f"e2e-path-{int(time.time())}"
    target.kubectl("create", "namespace", name)
    wait_for("default ServiceAccount", lambda: target.kubectl("get", "serviceaccount", "default", "-n", name,
                                                              check=False).returncode == 0, 30)
    yield name
    target.kubectl("delete", "namespace", name, "--wait=false", check=False)


def patch(target, namespace: str, spec: dict) -> None:
    target.kubectl("patch", "llmd", NAME, "-n", namespace, "--type", "merge", "-p", json.dumps({"spec": spec}))


def status(target, namespace: str) -> dict:
    return get(target, "llmd", NAME, "-n", namespace).get("status") or {}


def router_pods(target, namespace: str) -> list[dict]:
    selector = f"modelfleet.io/llmdeployment={NAME},app.kubernetes.io/component=router"
    return [p for p in get(target, "pods", "-n", namespace, "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]


def router_metric(pod: dict, family: str) -> dict[str, float]:
    """One family of a router pod's admin /metrics, by its ``replica`` label (or "" when it has none)."""
    from prometheus_client.parser import text_string_to_metric_families
    code, body = http(f"http://{pod['status']['podIP']}:9090/metrics", timeout=10)
    assert code == 200
    return {s.labels.get("replica", ""): s.value for f in text_string_to_metric_families(body.decode())
            if f.name == family for s in f.samples if not s.name.endswith("_created")}


def operator_log(target) -> str:
    """The operator's own lines about this LLMDeployment, for a failure's message."""
    out = target.kubectl("logs", "-n", "modelfleet-system", "-l", "app.kubernetes.io/name=modelfleet", "--tail=400",
                         check=False).stdout
    wanted = (NAME, "Traceback", "Error")
    return "\n".join(line for line in out.splitlines() if any(w in line for w in wanted))[-4000:]


def chat_turn(base: str, messages: list[dict], max_tokens: int = 8) -> str:
    code, body = http(f"{base}/v1/chat/completions", {"model": REPO, "messages": messages, "max_tokens": max_tokens,
                                                       "temperature": 0}, timeout=300)
    assert code == 200, body[:500]
    return json.loads(body)["choices"][0]["message"]["content"]


def test_an_autoscaled_fleet_with_min_replicas_zero_is_idle_with_no_engine_pod(target, namespace, engine):
    obj = llmd(engine, NAME, "nodeLocal")  # replicas: 1 by llmd(); created at zero instead
    obj["spec"]["replicas"] = 0
    obj["spec"]["serving"]["maxConcurrency"] = 2
    target.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))
    patch(target, namespace, {"autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 2,
                                              "scaleToZeroAfterSeconds": IDLE_SECONDS}})
    assert wait_for("the routers ready", lambda: len(router_pods(target, namespace)) >= 2, 180, 2)
    # Once the routers have been read, a router the operator cannot read (a timeout on the busy cores) wakes one
    # replica (a request may be held where nobody sees it); such a replica goes back after its cold start and
    # scaleToZeroAfterSeconds. The next test's request must find the fleet at zero, no pod left.
    wait_for("Idle with no engine pod, terminating or not", lambda: status(target, namespace).get("reason") == "Idle"
             and engine_pods_with_terminating(target, namespace, NAME) == [], 300, 2)
    assert status(target, namespace)["health"] == "Healthy"


def test_a_request_sent_at_zero_is_held_through_zero_to_one_and_answered(target, namespace, engine, record_property):
    base = service_url(target, namespace, NAME)
    started = time.monotonic()
    code, body = http(f"{base}/v1/completions", {"model": REPO, "prompt": "The capital of France is",
                                                 "max_tokens": 8, "temperature": 0}, timeout=600)
    waited = time.monotonic() - started
    assert code == 200, body[:500]
    assert json.loads(body)["choices"][0]["text"].strip()
    try:
        wake = wait_for("status.lastWake", lambda: status(target, namespace).get("lastWake"), 60, 2)
    except AssertionError as e:
        raise AssertionError(f"{e}\nstatus: {json.dumps(status(target, namespace))[:3000]}\n"
                             f"operator: {operator_log(target)}") from None
    record_property("measured", ("the first request at zero replicas", {
        "answered": code, "client_wait_seconds": round(waited, 1), "status.lastWake": wake}))
    print(f"\nheld through 0 -> 1 and answered after {waited:.1f} s (the router measured "
          f"{wake['waitSeconds']} s from holding it to a replica taking it)")
    assert wake["waitSeconds"] <= waited + 1  # the router's measure is within the client's (plus rounding)
    assert len(ready_pods(target, namespace, NAME)) == 1


def test_fewest_in_flight_keeps_both_replicas_busy_under_load(target, namespace, engine, record_property):
    patch(target, namespace, {"autoscaling": {"enabled": False}, "replicas": 2})
    wait_serving(target, namespace, NAME, 2)
    base = service_url(target, namespace, NAME)
    pods = ready_pods(target, namespace, NAME)
    stop = threading.Event()
    full_at_once: list[dict[str, float]] = []

    def load() -> None:
        while not stop.is_set():
            http(f"{base}/v1/completions", {"model": REPO, "prompt": "Count: one, two,", "max_tokens": 200,
                                            "ignore_eos": True}, timeout=300)

    def both_batches_full() -> bool:
        running = {p["metadata"]["name"]: engine_metric(p, "vllm:num_requests_running") for p in pods}
        if all(v >= 2 for v in running.values()):
            full_at_once.append(running)
        return bool(full_at_once)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(4):  # 4 clients, 2 replicas of batch 2: room for all, if they are spread
            pool.submit(load)
        try:
            wait_for("both replicas' batches full at once", both_batches_full, 180, 0.5)
            in_flight = [router_metric(r, "modelfleet_router_in_flight") for r in router_pods(target, namespace)]
        finally:
            stop.set()
    record_property("measured", ("fewest in flight, 4 clients on 2 replicas of batch 2", {
        "engines' running requests at one sample": full_at_once[0], "routers' in flight by replica": in_flight}))


def conversations(seed: int, count: int = 6) -> list[list[dict]]:
    """Each conversation its own system prompt: 60 words, so that 4 turns stay within the tiny model's 512-token
    context (180 words went past it in CI)."""
    rng = random.Random(seed)
    words = ["river", "copper", "lantern", "orchard", "meadow", "harbor", "signal", "granite", "willow", "saffron"]
    return [[{"role": "system", "content": f"Conversation {seed}-{i}. " + " ".join(rng.choice(words)
                                                                                   for _ in range(60))}]
            for i in range(count)]


def run_chats(base: str, seed: int, turns: int = 4) -> None:
    """Each conversation's turns in order (its history grows), the conversations two at a time."""
    def converse(history: list[dict]) -> None:
        for turn in range(turns):
            history.append({"role": "user", "content": f"Question {turn}: name a colour."})
            history.append({"role": "assistant", "content": chat_turn(base, history)})

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(converse, conversations(seed)))


def prefix_counters(target, namespace: str) -> dict[str, float]:
    pods = ready_pods(target, namespace, NAME)
    return {family: sum(engine_metric(p, family) for p in pods) for family in PREFIX_FAMILIES}


def hit_rate(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    hits = after["vllm:prefix_cache_hits"] - before["vllm:prefix_cache_hits"]
    queries = after["vllm:prefix_cache_queries"] - before["vllm:prefix_cache_queries"]
    return {"hits_tokens": hits, "queries_tokens": queries, "hit_rate": round(hits / queries, 3)}


def routed_through(target, namespace: str, mode: str) -> bool:
    """The Service selects what the mode says: the engines (service) or the router pods."""
    selector = get(target, "service", NAME, "-n", namespace)["spec"]["selector"]
    wanted = "engine" if mode == "service" else "router"
    return selector.get("app.kubernetes.io/component") == wanted and (mode == "service" or bool(
        router_pods(target, namespace)))


def test_prefix_affinity_raises_vllms_prefix_cache_hit_rate_against_random_routing(target, namespace, engine,
                                                                                  record_property):
    rates = {}
    for seed, mode in ((1, "service"), (2, "prefix")):  # fresh conversations for each: no cache from the other
        patch(target, namespace, {"routing": {"mode": mode}})
        wait_for(f"the Service routing by {mode}", lambda m=mode: routed_through(target, namespace, m), 180, 2)
        base = service_url(target, namespace, NAME)
        chat_turn(base, [{"role": "user", "content": "ready?"}])  # the path answers before the measure
        before = prefix_counters(target, namespace)
        run_chats(base, seed)
        rates[mode] = hit_rate(before, prefix_counters(target, namespace))
    table = ["| routing | prefix-cache hits / queries (tokens) | hit rate |", "|---|---:|---:|"]
    table += [f"| {'random (Service)' if m == 'service' else 'prefix affinity (router)'} | "
              f"{r['hits_tokens']:.0f} / {r['queries_tokens']:.0f} | {r['hit_rate']:.3f} |" for m, r in rates.items()]
    print("\n" + "\n".join(table))
    record_property("measured", ("prefix-cache hit table", "\n".join(table)))
    record_property("measured", ("prefix-cache hit rate, 6 conversations x 4 turns on 2 replicas", rates))
    assert rates["prefix"]["hit_rate"] > rates["service"]["hit_rate"], rates


def test_an_idle_fleet_goes_back_to_zero(target, namespace, engine):
    patch(target, namespace, {"routing": {"mode": "leastInFlight"},
                              "autoscaling": {"enabled": True, "minReplicas": 0, "maxReplicas": 2,
                                              "scaleToZeroAfterSeconds": IDLE_SECONDS}})
    wait_for("Idle at zero", lambda: status(target, namespace).get("reason") == "Idle"
             and status(target, namespace).get("readyReplicas", 0) == 0, 300, 2)
    wait_for("no engine pod", lambda: ready_pods(target, namespace, NAME) == [], 120, 2)
