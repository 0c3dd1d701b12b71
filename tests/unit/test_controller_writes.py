"""Every write the operator sends, request by request, against a scripted API server.

After kube-rs's controller tests (an ``ApiServerVerifier`` that answers each
request in turn and asserts it): ``ScriptedApiServer`` is a real HTTP server
the operator's own Kubernetes client talks to. It answers discovery from a
table, and every other request from a script, in order, failing the test on
any request that is not the next one expected: its verb, path, field manager
and ``force``, content type and body. A whole worker pass
(``Reconciler.reconcile``, ``report_failure``) runs against it, from a cache
filled as the watches would fill it.

What only a real API server does (merging the managers' applies, removing a
field its only manager leaves out, garbage collection) is proven in
tests/integration; here, that the operator asks for exactly that.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient

from modelfleet.api import OperatorSettings
from modelfleet.autoscale.policy import Decision, PolicyState
from modelfleet.catalog import load_model_config
from modelfleet.controller.cache import ClusterCache
from modelfleet.controller.decide.capacity import Measurement
from modelfleet.controller.decide.fields import AUTOSCALER, CAPACITY, RECONCILER
from modelfleet.controller.kube import Kube
from modelfleet.controller.observe import ModelConfigs, observe_cached
from modelfleet.controller.reconcile import Reconciler
from modelfleet.render import LLMDEPLOYMENT_LABEL
from modelfleet.sizing import judge_capacity

NOW = "2026-12-01T06:00:00Z"
MODEL_ID = "mistralai/Mistral-7B-Instruct-v0.3"
APPLY = "application/apply-patch+yaml"
LLMD_PATH = "/apis/modelfleet.io/v1alpha1/namespaces/llm/llmdeployments/chat"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/llm/deployments/chat"
SERVICE_PATH = "/api/v1/namespaces/llm/services/chat"
PDB_PATH = "/apis/policy/v1/namespaces/llm/poddisruptionbudgets/chat"
EVENTS_PATH = "/api/v1/namespaces/llm/events"
# Plain Service routing: three children, so each script stays short. The router's children are the same
# kinds, applied and deleted the same way (tests/unit/test_controller_decide.py, and on a real API server
# tests/integration/test_router_children.py).
SPEC = {"model": {"id": MODEL_ID}, "serving": {"maxModelLen": 8192, "maxConcurrency": 8},
        "gpu": {"pools": ["h100"]}, "cache": {"mode": "none"}, "replicas": 2, "routing": {"mode": "service"}}
AUTOSCALED = {**SPEC, "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}}


def _resource(name: str, kind: str, namespaced: bool = True) -> dict[str, Any]:
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}


def _status_of(name: str, kind: str) -> dict[str, Any]:
    return {"name": f"{name}/status", "singularName": "", "namespaced": True, "kind": kind,
            "verbs": ["get", "patch", "update"]}


DISCOVERY: dict[str, dict[str, Any]] = {
    "/version": {"major": "1", "minor": "34", "gitVersion": "v1.34.0"},
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "groups": [
        {"name": group, "versions": [{"groupVersion": f"{group}/{v}", "version": v}],
         "preferredVersion": {"groupVersion": f"{group}/{v}", "version": v}}
        for group, v in (("apps", "v1"), ("policy", "v1"), ("modelfleet.io", "v1alpha1"))]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        _resource("pods", "Pod"), _resource("services", "Service"), _resource("events", "Event"),
        _resource("persistentvolumeclaims", "PersistentVolumeClaim"), _resource("secrets", "Secret"),
        _resource("nodes", "Node", namespaced=False)]},
    "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
        _resource("deployments", "Deployment"), _status_of("deployments", "Deployment"),
        _resource("daemonsets", "DaemonSet")]},
    "/apis/policy/v1": {"kind": "APIResourceList", "groupVersion": "policy/v1", "resources": [
        _resource("poddisruptionbudgets", "PodDisruptionBudget")]},
    "/apis/modelfleet.io/v1alpha1": {"kind": "APIResourceList", "groupVersion": "modelfleet.io/v1alpha1",
                                     "resources": [_resource("llmdeployments", "LLMDeployment"),
                                                   _status_of("llmdeployments", "LLMDeployment")]},
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


Answer = Callable[[Request], tuple[int, dict[str, Any]]]


@dataclass
class Expected:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)  # these parameters, exactly these values
    content_type: str | None = None
    body: Callable[[Any], bool] | None = None  # holds for the request's body
    answer: Answer = lambda request: (200, {})

    def mismatch(self, got: Request) -> str | None:
        if (got.method, got.path) != (self.method, self.path):
            return f"expected {self.method} {self.path}, got {got.method} {got.path}"
        wrong = {k: got.query.get(k) for k, v in self.query.items() if got.query.get(k) != v}
        if wrong:
            return f"{got.method} {got.path}: query {wrong}, expected {self.query}"
        if self.content_type is not None and got.content_type != self.content_type:
            return f"{got.method} {got.path}: content type {got.content_type}, expected {self.content_type}"
        if self.body is not None and not self.body(got.body):
            return f"{got.method} {got.path}: unexpected body {json.dumps(got.body)[:2000]}"
        return None


class ScriptedApiServer:
    """Discovery from ``DISCOVERY``; every other request must be the next one ``expect``ed, and gets its answer."""

    def __init__(self) -> None:
        self.script: list[Expected] = []
        self.seen: list[Request] = []
        self.failures: list[str] = []
        self.version = 100  # resourceVersions of the answers, rising like etcd's
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def expect(self, *expected: Expected) -> None:
        self.script += expected

    def kube(self, cache_dir: Any) -> Kube:
        configuration = client.Configuration(host=self.url)
        return Kube(dynamic=DynamicClient(client.ApiClient(configuration), cache_file=str(cache_dir / "discovery")))

    def next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def verify(self) -> None:
        """Every request was the expected one, and every expected one came."""
        assert self.failures == []
        assert [f"{e.method} {e.path}" for e in self.script] == [], "expected requests that never came"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.method == "GET" and request.path in DISCOVERY:
            return 200, DISCOVERY[request.path]
        with self._lock:
            self.seen.append(request)
            if not self.script:
                self.failures.append(f"unexpected {request.method} {request.path}")
                return 500, _status(500, "not in the script")
            expected = self.script.pop(0)
            problem = expected.mismatch(request)
            if problem is not None:
                self.failures.append(problem)
                return 500, _status(500, problem)
        return expected.answer(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = Request(self.command, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()},
                                  self.headers.get("Content-Type", ""), json.loads(raw) if raw else None)
                code, answer = server._answer(request)
                payload = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def _status(code: int, message: str, reason: str = "Invalid") -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}


# Answers, as a real API server gives them.

def not_found(request: Request) -> tuple[int, dict[str, Any]]:
    return 404, _status(404, f"{request.path.rsplit('/', 1)[-1]} not found", "NotFound")


def created(request: Request) -> tuple[int, dict[str, Any]]:
    return 201, request.body


def deleted(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}


def held_by(obj: dict[str, Any]) -> Answer:
    return lambda request: (200, obj)


def refused(message: str) -> Answer:
    return lambda request: (422, _status(422, message))


class Cluster:
    """What the API server holds, for its answers: an apply answers with the object as applied (a status apply
    merged into the object's status, conditions by type), and the cache then holds that answer."""

    def __init__(self, server: ScriptedApiServer) -> None:
        self.server = server
        self.objects: dict[str, dict[str, Any]] = {}

    def applied(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = copy.deepcopy(request.body)
        key = request.path.removesuffix("/status")
        current = self.objects.get(key)
        if request.path.endswith("/status"):
            assert current is not None, "a status apply to an object the script never created"
            obj = copy.deepcopy(current)
            obj["status"] = _merged_status(obj.get("status") or {}, body.get("status") or {})
        else:
            obj = body
            generation = (current or {}).get("metadata", {}).get("generation", 0) + 1
            obj["metadata"] |= {"uid": f"uid-{obj['kind'].lower()}", "generation": generation}
        obj["metadata"]["resourceVersion"] = self.server.next_version()
        self.objects[key] = obj
        return 200, obj

    def holding(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self.server.next_version()
        self.objects[path] = obj
        return obj


def _merged_status(live: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    merged = {**live, **{k: v for k, v in applied.items() if k != "conditions"}}
    conditions = {c["type"]: c for c in live.get("conditions") or []}
    conditions |= {c["type"]: c for c in applied.get("conditions") or []}
    if conditions:
        merged["conditions"] = list(conditions.values())
    return merged


# The expected requests.

def get(path: str, answer: Answer = not_found) -> Expected:
    return Expected("GET", path, answer=answer)


def apply(path: str, kind: str, cluster: Cluster, check: Callable[[dict[str, Any]], bool] = lambda body: True,
          answer: Answer | None = None) -> Expected:
    """A server-side apply of a child: the reconcile's field manager, conflicts forced."""
    return Expected("PATCH", path, {"fieldManager": RECONCILER, "force": "true"}, APPLY,
                    lambda body: body["kind"] == kind and _owned_by_chat(body) and check(body),
                    answer or cluster.applied)


def apply_status(manager: str, cluster: Cluster, check: Callable[[dict[str, Any]], bool],
                 answer: Answer | None = None) -> Expected:
    """A server-side apply of ``manager``'s part of the status, conflicts forced."""
    def body_ok(body: dict[str, Any]) -> bool:
        return (body["apiVersion"], body["kind"], body["metadata"]) == (
            "modelfleet.io/v1alpha1", "LLMDeployment", {"name": "chat", "namespace": "llm"}) and check(body["status"])
    return Expected("PATCH", f"{LLMD_PATH}/status", {"fieldManager": manager, "force": "true"}, APPLY, body_ok,
                    answer or cluster.applied)


def event(reason: str, kind: str = "Normal", says: str = "") -> Expected:
    def body_ok(body: dict[str, Any]) -> bool:
        involved = body["involvedObject"]
        return (body["type"], body["reason"], involved["kind"], involved["name"], involved["uid"]) == (
            kind, reason, "LLMDeployment", "chat", "uid-chat") and says in body["message"]
    return Expected("POST", EVENTS_PATH, {}, "application/json", body_ok, created)


def _owned_by_chat(body: dict[str, Any]) -> bool:
    (owner,) = body["metadata"]["ownerReferences"]
    return (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("LLMDeployment", "chat", "uid-chat",
                                                                                 True)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}


# The worker, its cache filled as the watches would fill it.

def gpu_node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "resourceVersion": "1", "labels": {
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "nvidia.com/gpu.count": "8",
        "modelfleet.io/pool": "h100"}}, "status": {"allocatable": {"nvidia.com/gpu": "8"}}}


def llmd(spec: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
            "metadata": {"name": "chat", "namespace": "llm", "uid": "uid-chat", "generation": generation,
                         "resourceVersion": "10"},
            "spec": copy.deepcopy(spec)}


@dataclass
class World:
    server: ScriptedApiServer
    cluster: Cluster
    cache: ClusterCache
    reconciler: Reconciler

    def holding(self, path: str, obj: dict[str, Any]) -> None:
        """An object the API server holds and the watches delivered."""
        self.cache.store(self.cluster.holding(path, obj))

    def created(self, spec: dict[str, Any] = SPEC) -> None:
        """The LLMDeployment created and reconciled once (its children answered as applied), the script empty."""
        self.holding(LLMD_PATH, llmd(spec))
        self.server.expect(get(DEPLOYMENT_PATH), get(SERVICE_PATH), get(PDB_PATH),
                           apply(DEPLOYMENT_PATH, "Deployment", self.cluster),
                           apply(SERVICE_PATH, "Service", self.cluster),
                           apply(PDB_PATH, "PodDisruptionBudget", self.cluster),
                           apply_status(RECONCILER, self.cluster, lambda status: True),
                           event("PlanChosen"))
        self.reconciler.reconcile("llm", "chat")
        self.server.verify()

    def deployment_ready(self, replicas: int) -> None:
        """The controller-manager ran the Deployment: its status, as its watch delivers it."""
        deployment = copy.deepcopy(self.cluster.objects[DEPLOYMENT_PATH])
        deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
                                "readyReplicas": replicas, "updatedReplicas": replicas}
        self.holding(DEPLOYMENT_PATH, deployment)


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    server = ScriptedApiServer()
    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL, managed_fields_of=frozenset({"Deployment", "Service"}),
                         own_manager=RECONCILER)
    cache.store(gpu_node("h100-0"))
    reconciler = Reconciler(server.kube(tmp_path), cache, OperatorSettings(),
                            models=ModelConfigs(load=lambda model, revision: load_model_config(model)),
                            clock=lambda: NOW)
    try:
        yield World(server, Cluster(server), cache, reconciler)
    finally:
        server.close()


def test_a_new_llmdeployment_names_looked_up_children_applied_status_written_event_posted(world):
    world.holding(LLMD_PATH, llmd(SPEC))
    world.server.expect(
        get(DEPLOYMENT_PATH), get(SERVICE_PATH), get(PDB_PATH),  # free names? the cache sees labelled objects only
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster, lambda body: body["spec"]["replicas"] == 2),
        apply(SERVICE_PATH, "Service", world.cluster),
        apply(PDB_PATH, "PodDisruptionBudget", world.cluster),
        apply_status(RECONCILER, world.cluster, lambda status: set(status) == {
            "observedGeneration", "conditions", "health", "reason", "plan", "cacheMode", "replicas", "readyReplicas",
            "desiredReplicas", "selector", "endpoint"} and status["desiredReplicas"] == 2 and conditions(status) == {
            "Ready": ("False", "ReplicasNotReady"), "Progressing": ("True", "RollingOut"),
            "Degraded": ("False", "AsExpected")}),
        event("PlanChosen", says="NVIDIA-H100-80GB-HBM3"),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()
    assert world.cache.get("LLMDeployment", "llm", "chat") == world.cluster.objects[LLMD_PATH]  # the answer, kept


def test_an_unchanged_world_sends_nothing_and_a_ready_deployment_one_status_write(world):
    world.created()
    world.reconciler.reconcile("llm", "chat")  # a resync: the cache holds every answer
    world.server.verify()
    world.deployment_ready(2)
    world.server.expect(apply_status(RECONCILER, world.cluster, lambda status: conditions(status)["Ready"] == (
        "True", "AllReplicasReady") and status["readyReplicas"] == 2))
    world.reconciler.reconcile("llm", "chat")
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()


def test_a_name_someone_else_holds_is_left_alone_and_said(world):
    world.holding(LLMD_PATH, llmd(SPEC))
    theirs = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat", "namespace": "llm", "uid": "theirs",
                                                                  "ownerReferences": [{"kind": "Helm", "name": "x"}]}}
    world.server.expect(
        get(DEPLOYMENT_PATH), get(SERVICE_PATH, held_by(theirs)), get(PDB_PATH),
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster),
        apply(PDB_PATH, "PodDisruptionBudget", world.cluster),  # and no apply of the Service
        apply_status(RECONCILER, world.cluster, lambda status: conditions(status)["Degraded"] == (
            "True", "NameConflict")),
        event("PlanChosen"),
        event("NameConflict", "Warning", says="Service/chat already exists and is owned by Helm/x"),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()


def test_a_child_the_api_server_refuses_is_said_in_its_words(world):
    world.holding(LLMD_PATH, llmd(SPEC))
    words = "Deployment.apps \"chat\" is invalid: spec.template.spec.nodeSelector: Invalid value"
    world.server.expect(
        get(DEPLOYMENT_PATH), get(SERVICE_PATH), get(PDB_PATH),
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster, answer=refused(words)),
        apply(SERVICE_PATH, "Service", world.cluster),
        apply(PDB_PATH, "PodDisruptionBudget", world.cluster),
        apply_status(RECONCILER, world.cluster, lambda status: conditions(status)["Degraded"] == (
            "True", "ChildRefused")),
        event("PlanChosen"),
        event("ChildRefused", "Warning", says=words),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()


def decision(replicas: int, previous: int) -> Decision:
    return Decision(replicas=replicas, previous=previous, recommendation=replicas, queue_depth=6.0,
                    reason="ScaledUp", message=f"{previous} -> {replicas}: 6 requests wait per ready replica",
                    state=PolicyState())


def test_a_scaling_decision_is_the_autoscalers_write_and_the_deployment_follows_in_the_same_pass(world):
    world.created(AUTOSCALED)
    world.deployment_ready(1)
    world.server.expect(apply_status(RECONCILER, world.cluster, lambda status: "desiredReplicas" not in status))
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()

    world.reconciler.inbox.post(("llm", "chat"), decision=decision(3, 1))
    world.server.expect(
        apply_status(AUTOSCALER, world.cluster, lambda status: status == {
            "desiredReplicas": 3, "queueDepth": 6.0, "lastScaleTime": NOW}),
        event("ScaledUp", says="1 -> 3"),
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster, lambda body: body["spec"]["replicas"] == 3),
        apply_status(RECONCILER, world.cluster, lambda status: "desiredReplicas" not in status and conditions(
            status)["Progressing"] == ("True", "RollingOut")),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()


def measured(world: World, tokens: int) -> Measurement:
    snapshot = observe_cached(world.cache, "llm", "chat")
    plan = snapshot.status.plan
    return Measurement(judge_capacity(snapshot.resource.spec, plan, tokens, "chat-0"), 1, plan)


def test_a_kv_verdict_is_the_capacity_loops_write_and_a_new_plan_removes_it_by_the_same_manager(world):
    world.created()
    world.deployment_ready(2)
    world.server.expect(apply_status(RECONCILER, world.cluster, lambda status: True))
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()

    world.reconciler.inbox.post(("llm", "chat"), measurement=measured(world, 4 * 8192))
    world.server.expect(
        apply_status(CAPACITY, world.cluster, lambda status: set(status) == {"kvCapacity", "conditions"} and conditions(
            status) == {"KVCacheSufficient": ("False", "KVCacheTooSmall")}),
        event("KVCacheTooSmall", "Warning", says="short of serving.maxConcurrency 8"),
    )
    world.reconciler.reconcile("llm", "chat")  # and the reconcile after it: nothing to write
    world.server.verify()

    replanned = copy.deepcopy(world.cluster.objects[LLMD_PATH])
    replanned["spec"]["serving"]["maxModelLen"] = 4096
    replanned["metadata"]["generation"] = 2
    world.holding(LLMD_PATH, replanned)
    world.server.expect(
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster),
        apply_status(RECONCILER, world.cluster, lambda status: "kvCapacity" not in status and set(
            conditions(status)) == {"Ready", "Progressing", "Degraded"}),
        apply_status(CAPACITY, world.cluster, lambda status: status == {}),  # its fields are removed
        event("PlanChosen"),
        event("RolloutStarted"),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()


def test_a_failed_reconcile_is_said_once_by_the_reconciles_own_writer(world):
    world.created()
    world.server.expect(
        apply_status(RECONCILER, world.cluster, lambda status: conditions(status)["Degraded"] == (
            "True", "ReconcileFailed")),
        event("ReconcileFailed", "Warning", says="ValueError: a bug"),
    )
    world.reconciler.report_failure("llm", "chat", ValueError("a bug"), 0.5)
    world.reconciler.report_failure("llm", "chat", ValueError("a bug"), 1.0)  # the same failure: nothing more
    world.server.verify()


def test_an_object_deleted_meanwhile_gets_no_event(world):
    world.created()
    world.server.expect(apply_status(RECONCILER, world.cluster, lambda status: True, answer=not_found))
    world.reconciler.report_failure("llm", "chat", ValueError("a bug"), 0.5)
    world.server.verify()


def test_a_hand_added_container_is_pruned_by_a_guarded_json_patch_and_nothing_applied(world):
    world.created()
    clean = copy.deepcopy(world.cluster.objects[DEPLOYMENT_PATH])
    edited = copy.deepcopy(clean)
    edited["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "theirs"})
    edited["metadata"]["managedFields"] = [{"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {
        "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"sidecar"}': {".": {}}}}}}}}]
    world.holding(DEPLOYMENT_PATH, edited)
    world.server.expect(Expected(
        "PATCH", DEPLOYMENT_PATH, {}, "application/json-patch+json",
        lambda ops: [(op["op"], op["path"]) for op in ops] == [
            ("test", "/spec/template/spec/containers/1"), ("remove", "/spec/template/spec/containers/1")],
        lambda request: (200, world.cluster.holding(DEPLOYMENT_PATH, clean))))
    world.reconciler.reconcile("llm", "chat")  # pruned, nothing else drifted: one write in all
    world.server.verify()
    assert world.cache.get("Deployment", "llm", "chat")["spec"] == clean["spec"]


def test_a_child_no_longer_rendered_is_deleted_in_the_background(world):
    pvc_path = "/api/v1/namespaces/llm/persistentvolumeclaims/chat-cache"
    with_pvc = {**SPEC, "cache": {"mode": "pvc", "size": "100Gi", "storageClassName": "rwx"}}
    world.holding(LLMD_PATH, llmd(with_pvc))
    world.server.expect(get(pvc_path), get(DEPLOYMENT_PATH), get(SERVICE_PATH), get(PDB_PATH),
                        apply(pvc_path, "PersistentVolumeClaim", world.cluster),
                        apply(DEPLOYMENT_PATH, "Deployment", world.cluster),
                        apply(SERVICE_PATH, "Service", world.cluster),
                        apply(PDB_PATH, "PodDisruptionBudget", world.cluster),
                        apply_status(RECONCILER, world.cluster, lambda status: True), event("PlanChosen"))
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()

    without = copy.deepcopy(world.cluster.objects[LLMD_PATH])
    without["spec"], without["metadata"]["generation"] = copy.deepcopy(SPEC), 2
    world.holding(LLMD_PATH, without)
    world.server.expect(
        apply(DEPLOYMENT_PATH, "Deployment", world.cluster),
        Expected("DELETE", pvc_path, {"propagationPolicy": "Background"}, answer=deleted),
        apply_status(RECONCILER, world.cluster, lambda status: status["observedGeneration"] == 2),
        event("RolloutStarted"),
        event("ChildDeleted", says="PersistentVolumeClaim/chat-cache"),
    )
    world.reconciler.reconcile("llm", "chat")
    world.server.verify()
