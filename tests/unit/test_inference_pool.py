"""The InferencePool (inference.networking.k8s.io/v1) of each LLMDeployment, without a cluster.

The rendered pool is checked against the CRD of the Inference Extension
release pinned in e2e/local/gomod/inference-extension (fetched from its Go
module into the cache by ``localcluster.inference_extension``, once per
machine; no Go, no proxy: the test fails). What only the API server judges
(the CRD's CEL rules, owner references, the operator picking up CRDs
installed later) is tests/integration/test_inference_pool_operator.py.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import kopf
import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from kopf._cogs.clients import scanning
from kopf._cogs.structs import references
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
from pydantic import ValidationError

from localcluster import inference_extension
from modelfleet.api import GPUPool, OperatorSettings
from modelfleet.api.resource import MAX_NAME_LENGTH
from modelfleet.api.settings import EndpointPickerSettings, InferencePoolSettings
from modelfleet.catalog import load_model_config
from modelfleet.cli.main import main
from modelfleet.controller.act import apply_children
from modelfleet.controller.cache import ClusterCache
from modelfleet.controller.config import load_process_config
from modelfleet.controller.decide import Intent, Ref, decide
from modelfleet.controller.decide.fields import RECONCILER
from modelfleet.controller.discovery import OperatorPools, ServedApis, after_change, agree_on_pools
from modelfleet.controller.handlers import CHILD_KINDS  # importing it registers the handlers with kopf
from modelfleet.controller.kopf_resources import rescan
from modelfleet.controller.kube import Forbidden, Kube
from modelfleet.controller.liveness import running_watchers
from modelfleet.controller.observe import LLMDEPLOYMENT_KIND, snapshot_of
from modelfleet.controller.workqueue import WorkQueue
from modelfleet.engines import profile_for
from modelfleet.render import LLMDEPLOYMENT_LABEL, child_refs, ref_of, render_all, unsupported
from modelfleet.render.inference_pool import endpoint_picker_name, inference_pool
from modelfleet.render.names import INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, ChildRef
from support.render_cases import EXAMPLES, EXAMPLES_DIR, example, example_plan, llmdeployments, plans_for

SETTINGS = OperatorSettings()


@pytest.fixture(scope="module")
def pool_schema() -> dict[str, Any]:
    """The v1 InferencePool's OpenAPI schema, from the pinned release's CRD."""
    crd = yaml.safe_load((inference_extension.crd_dir() / inference_extension.INFERENCE_POOL_CRD).read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert v1["served"] and crd["spec"]["group"] == "inference.networking.k8s.io"
    assert crd["spec"]["names"]["kind"] == INFERENCE_POOL_KIND
    return v1["schema"]["openAPIV3Schema"]


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare: the API server would drop them (or refuse them, strictly)."""
    if isinstance(obj, dict) and "properties" in schema:
        found = []
        for key, value in obj.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(value, schema["properties"][key], f"{path}.{key}")
        return found
    if isinstance(obj, list) and "items" in schema:
        return [f for i, item in enumerate(obj) for f in unknown_fields(item, schema["items"], f"{path}[{i}]")]
    return []


def assert_valid_pool(pool: dict[str, Any], schema: dict[str, Any]) -> None:
    body = {k: v for k, v in pool.items() if k != "metadata"}  # metadata is ObjectMeta's, checked elsewhere
    jsonschema.Draft4Validator(schema).validate(body)  # OpenAPI v3.0's schema dialect is draft 4's
    assert unknown_fields(body, schema) == []
    # The CRD's two CEL rules (x-kubernetes-validations), which draft 4 cannot evaluate.
    ports = [p["number"] for p in pool["spec"]["targetPorts"]]
    assert len(set(ports)) == len(ports)
    picker = pool["spec"]["endpointPickerRef"]
    assert picker.get("kind", "Service") != "Service" or "port" in picker


def rendered(name: str, served: bool = True, settings: OperatorSettings = SETTINGS) -> dict[str, dict[str, Any]]:
    """The objects by kind; the engine Deployment, not the router's, for "Deployment"."""
    resource = example(name)
    objects = render_all(resource, example_plan(name), settings, inference_pools_served=served)
    by_kind = {obj["kind"]: obj for obj in objects}
    by_kind["Deployment"] = next(o for o in objects if o["kind"] == "Deployment"
                                 and o["metadata"]["name"] == resource.metadata["name"])
    return by_kind


# --- the object ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_gets_a_pool_of_exactly_its_engine_pods(name, pool_schema):
    objects = rendered(name)
    pool, deployment = objects[INFERENCE_POOL_KIND], objects["Deployment"]
    assert_valid_pool(pool, pool_schema)
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["metadata"]["name"] == deployment["metadata"]["name"]
    assert pool["metadata"]["labels"][LLMDEPLOYMENT_LABEL] == deployment["metadata"]["name"]  # the watch's filter
    # The Deployment's own selector (hence the pods it makes), and the port the engine listens on.
    assert pool["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    port = profile_for(example(name).spec.engine.kind).port
    assert pool["spec"]["targetPorts"] == [{"number": port}]
    engine = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "engine")
    assert port in [p["containerPort"] for p in engine["ports"]]


def test_the_pool_names_the_picker_service_of_the_settings():
    pool = rendered("mistral-7b-tgi")[INFERENCE_POOL_KIND]
    assert pool["spec"]["endpointPickerRef"] == {
        "kind": "Service", "name": "mistral-7b-tgi-epp", "port": {"number": 9002}, "failureMode": "FailOpen"}
    mine = OperatorSettings(inference_pool=InferencePoolSettings(endpoint_picker=EndpointPickerSettings(
        service_suffix="-picker", port=9102, failure_mode="FailClose")))
    pool = rendered("mistral-7b-tgi", settings=mine)[INFERENCE_POOL_KIND]
    assert pool["spec"]["endpointPickerRef"] == {
        "kind": "Service", "name": "mistral-7b-tgi-picker", "port": {"number": 9102}, "failureMode": "FailClose"}


def test_no_pool_unless_the_api_server_serves_it_and_the_settings_allow_it():
    assert INFERENCE_POOL_KIND not in rendered("mistral-7b-tgi", served=False)
    off = OperatorSettings(inference_pool=InferencePoolSettings(enabled=False))
    assert INFERENCE_POOL_KIND not in rendered("mistral-7b-tgi", settings=off)


def test_the_pool_comes_last_and_is_a_child_the_operator_may_delete():
    objects = render_all(example("mistral-7b-tgi"), example_plan("mistral-7b-tgi"), SETTINGS,
                         inference_pools_served=True)
    refs = child_refs("mistral-7b-tgi")
    assert ref_of(objects[-1]) == ChildRef(INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, "mistral-7b-tgi")
    assert [ref_of(o) for o in objects] == [r for r in refs if r in {ref_of(o) for o in objects}]  # apply order
    assert (INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND) in CHILD_KINDS  # watched like every child


@pytest.mark.parametrize("suffix", ["epp", "-", "-EPP", "-epp-", "-" + "p" * 11, "-e.p"])
def test_a_picker_service_suffix_that_cannot_end_a_service_name_is_refused(suffix):
    with pytest.raises(ValidationError, match="serviceSuffix|service_suffix"):
        OperatorSettings.model_validate({"inferencePool": {"endpointPicker": {"serviceSuffix": suffix}}})


def test_the_longest_name_and_suffix_still_make_a_service_name():
    settings = OperatorSettings.model_validate({"inferencePool": {"endpointPicker": {"serviceSuffix": "-" + "p" * 10}}})
    assert len(endpoint_picker_name("a" * MAX_NAME_LENGTH, settings)) == 63  # a DNS-1035 label's limit


@st.composite
def resources_and_plans(draw):
    resource = draw(llmdeployments())
    return resource, draw(plans_for(resource))


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources_and_plans())
def test_the_pool_of_any_valid_spec_is_valid(pool_schema, resource_and_plan):
    resource, plan = resource_and_plan
    if unsupported(resource.spec, plan, SETTINGS):
        return
    assert_valid_pool(inference_pool(resource, SETTINGS), pool_schema)


# --- the reconcile: decide, act ----------------------------------------------------------------

H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8, nodes=2)
MODEL_ID = "mistralai/Mistral-7B-Instruct-v0.3"
BODY = {"apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment",
        "metadata": {"name": "chat", "namespace": "llm", "uid": "uid-chat", "generation": 1},
        "spec": {"model": {"id": MODEL_ID}, "serving": {"maxModelLen": 8192, "maxConcurrency": 8},
                 "gpu": {"pools": ["h100"]}, "cache": {"mode": "none"}, "replicas": 2}}


def decided(served: bool, children: dict[str, dict[str, Any]] | None = None,
            settings: OperatorSettings = SETTINGS) -> Intent:
    snapshot = replace(snapshot_of(copy.deepcopy(BODY), children=children), pools=(H100,),
                       model=load_model_config(MODEL_ID), inference_pools_served=served)
    return decide(snapshot, settings, "2026-12-06T04:00:00Z")


def test_a_served_kind_is_applied_with_the_owner_reference():
    (pool,) = [o for o in decided(served=True).apply if o["kind"] == INFERENCE_POOL_KIND]
    assert pool["metadata"]["ownerReferences"] == [{
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "name": "chat", "uid": "uid-chat",
        "controller": True, "blockOwnerDeletion": True}]
    assert not [o for o in decided(served=False).apply if o["kind"] == INFERENCE_POOL_KIND]


def test_a_pool_turned_off_in_the_settings_is_deleted_and_an_unchanged_one_not_applied_again():
    pool = next(o for o in decided(served=True).apply if o["kind"] == INFERENCE_POOL_KIND)
    live = {f"{INFERENCE_POOL_KIND}/chat": {**pool, "metadata": {**pool["metadata"], "generation": 1}}}
    assert not [o for o in decided(served=True, children=live).apply if o["kind"] == INFERENCE_POOL_KIND]
    off = OperatorSettings(inference_pool=InferencePoolSettings(enabled=False))
    assert ChildRef(INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND, "chat") in decided(
        served=True, children=live, settings=off).delete


class KindGone:
    """A client whose discovery no longer knows the kind, or whose API server answers 404 for it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def resource(self, api_version: str, kind: str) -> Any:
        raise self.error


@pytest.mark.parametrize("error", [ResourceNotFoundError("No matches found"), NotFoundError(
    type("E", (), {"status": 404, "reason": "Not Found", "body": b'{"message": "the server could not find the '
                   b'requested resource"}', "headers": {}})())])
def test_applying_a_kind_that_went_away_is_no_error_and_no_refusal(error):
    pool = next(o for o in decided(served=True).apply if o["kind"] == INFERENCE_POOL_KIND)
    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    owner = Ref(namespace="llm", name="chat", uid="uid-chat")
    assert apply_children(KindGone(error), cache, owner, Intent(apply=(pool,))) == []  # type: ignore[arg-type]
    assert cache.all(INFERENCE_POOL_KIND) == []


# --- discovery ---------------------------------------------------------------------------------


def test_discovery_says_when_its_answer_changed_and_a_failed_question_keeps_the_last_answer():
    answers: list[bool | Exception] = [False, True, True, RuntimeError("connection refused"), False]

    def ask() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    apis = ServedApis(ask)
    assert [apis.refresh(), apis.inference_pools] == [False, False]
    assert [apis.refresh(), apis.inference_pools] == [True, True]
    assert [apis.refresh(), apis.inference_pools] == [False, True]
    assert [apis.refresh(), apis.inference_pools] == [False, True]  # unanswered: no news
    assert [apis.refresh(), apis.inference_pools] == [True, False]


def pool(name: str, version: str) -> dict:
    return {"apiVersion": INFERENCE_POOL_API_VERSION, "kind": INFERENCE_POOL_KIND, "metadata": {
        "name": name, "namespace": "llm", "resourceVersion": version, "labels": {LLMDEPLOYMENT_LABEL: name}}}


def test_a_pool_the_api_server_no_longer_lists_is_forgotten_and_its_llmdeployment_queued():
    """kopf's watch of a kind installed late may deliver nothing (CI, 2026-12-06): each discovery round's list
    makes the cache agree, so a pool deleted by hand is applied again."""
    cache, queue = ClusterCache(index_label=LLMDEPLOYMENT_LABEL), WorkQueue()
    for name in ("kept", "deleted"):
        cache.store(pool(name, "2"))
    agree_on_pools([pool("kept", "2")], cache, queue)
    assert [p["metadata"]["name"] for p in cache.all(INFERENCE_POOL_KIND)] == ["kept"] and len(queue) == 1
    agree_on_pools([pool("kept", "2")], cache, queue)  # nothing new: nothing queued again
    assert len(queue) == 1
    agree_on_pools([pool("kept", "3")], cache, queue)  # changed by someone: re-planned
    assert cache.get(INFERENCE_POOL_KIND, "llm", "kept")["metadata"]["resourceVersion"] == "3" and len(queue) == 2


def test_where_the_operator_may_not_list_every_namespace_it_lists_the_namespaces_of_its_llmdeployments_from_then_on():
    class NamespacedOnly:
        def __init__(self) -> None:
            self.asked: list[str | None] = []

        def list_all(self, api_version, kind, label_selector=None, namespace=None):
            self.asked.append(namespace)
            if namespace is None:
                raise Forbidden("list InferencePool in every namespace")
            return [pool(f"in-{namespace}", "1")]

    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    for namespace in ("team-b", "team-a", "team-a"):
        cache.store({**copy.deepcopy(BODY), "metadata": {**BODY["metadata"], "namespace": namespace,
                                                          "name": f"m-{len(cache.all(LLMDEPLOYMENT_KIND))}"}})
    kube = NamespacedOnly()
    pools = OperatorPools(kube, cache)  # type: ignore[arg-type]
    listed = pools()
    assert [p["metadata"]["name"] for p in listed] == ["in-team-a", "in-team-b"]
    assert kube.asked == [None, "team-a", "team-b"]
    pools()  # the next round: the 403 is not asked for again
    assert kube.asked == [None, "team-a", "team-b", "team-a", "team-b"]


def test_a_kind_that_went_away_leaves_the_cache_and_every_llmdeployment_is_replanned():
    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    for name in ("a", "b"):
        cache.store({**copy.deepcopy(BODY), "metadata": {**BODY["metadata"], "name": name, "resourceVersion": "1"}})
        cache.store({"apiVersion": INFERENCE_POOL_API_VERSION, "kind": INFERENCE_POOL_KIND, "metadata": {
            "name": name, "namespace": "llm", "resourceVersion": "2", "labels": {LLMDEPLOYMENT_LABEL: name}}})
    queue = WorkQueue()
    served = ServedApis(lambda: True)
    served.refresh()
    after_change(served, cache, queue)
    assert len(queue) == 2 and len(cache.all(INFERENCE_POOL_KIND)) == 2
    gone = ServedApis(lambda: False)
    after_change(gone, cache, queue)
    assert cache.all(INFERENCE_POOL_KIND) == []


class Discovery(ThreadingHTTPServer):
    """An API server's discovery of one group version: 200 with its resources, or 404 (not served)."""

    def __init__(self) -> None:
        self.resources: list[str] | None = None  # None: the group version is not served
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/version":
                    code, body = 200, {"major": "1", "minor": "34", "gitVersion": "v1.34.0"}
                elif self.path == "/apis/inference.networking.k8s.io/v1" and server.resources is not None:
                    code, body = 200, {"kind": "APIResourceList", "groupVersion": "inference.networking.k8s.io/v1",
                                       "resources": [{"name": r, "namespaced": True, "kind": "X", "verbs": ["get"]}
                                                     for r in server.resources]}
                elif self.path in ("/api", "/apis"):
                    code, body = 200, {"kind": "APIGroupList", "groups": [], "versions": ["v1"]}
                else:
                    code, body = 404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"}
                payload = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def discovery(tmp_path) -> Iterator[tuple[Discovery, Kube]]:
    server = Discovery()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield server, Kube(DynamicClient(client.ApiClient(configuration), cache_file=str(tmp_path / "discovery")))
    finally:
        server.shutdown()
        server.server_close()


def test_kube_asks_discovery_afresh_each_time(discovery):
    server, kube = discovery

    def serves() -> bool:
        return kube.serves("inference.networking.k8s.io", "v1", "inferencepools")

    assert serves() is False  # 404: the group version is not served
    server.resources = ["inferencepoolimports"]
    assert serves() is False  # served, but not this kind
    server.resources = ["inferencepools", "inferencepools/status"]
    assert serves() is True
    server.resources = None
    assert serves() is False  # the CRD was removed


def test_the_discovery_period_is_a_setting():
    assert load_process_config({}).discovery_seconds == 30
    assert load_process_config({"MODELFLEET_DISCOVERY_SECONDS": "1"}).discovery_seconds == 1


def test_the_pool_watch_is_not_counted_by_the_liveness_probe():
    """kopf ends that watch itself when the CRD is removed: no reason to restart the operator."""
    async def scenario() -> int:
        async def forever() -> None:
            await asyncio.Event().wait()
        names = ["watcher for deployments.v1.apps@None", "watcher for nodes.v1@None",
                 "watcher for inferencepools.v1.inference.networking.k8s.io@None"]
        tasks = [asyncio.create_task(forever(), name=n) for n in names]
        await asyncio.sleep(0)
        counted = running_watchers()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return counted

    assert asyncio.run(scenario()) == 2


def test_the_reconcile_field_manager_applies_the_pool():
    """Like every child: server-side applied under the reconciler's manager (act.apply_children)."""
    pool = next(o for o in decided(served=True).apply if o["kind"] == INFERENCE_POOL_KIND)
    seen: dict[str, Any] = {}

    class Resource:
        def server_side_apply(self, **kwargs: Any) -> Any:
            seen.update(kwargs)
            live = {**kwargs["body"], "metadata": {**kwargs["body"]["metadata"], "resourceVersion": "5"}}
            return type("Answer", (), {"to_dict": lambda self: live})()

    class Recording:
        def resource(self, api_version: str, kind: str) -> Resource:
            seen["kind"] = (api_version, kind)
            return Resource()

    cache = ClusterCache(index_label=LLMDEPLOYMENT_LABEL)
    apply_children(Recording(), cache, Ref("llm", "chat", "uid-chat"), Intent(apply=(pool,)))  # type: ignore[arg-type]
    assert seen["kind"] == (INFERENCE_POOL_API_VERSION, INFERENCE_POOL_KIND)
    assert (seen["field_manager"], seen["force_conflicts"], seen["namespace"]) == (RECONCILER, True, "llm")
    assert cache.get(INFERENCE_POOL_KIND, "llm", "chat") is not None


def test_modelfleet_render_shows_the_pool_when_asked(capsys, pool_schema):
    path = str(EXAMPLES_DIR / "mistral-7b-tgi.yaml")
    assert main(["render", "-f", path]) == 0
    assert INFERENCE_POOL_KIND not in {d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out) if d}
    assert main(["render", "--inference-pool", "-f", path]) == 0
    (pool,) = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d and d["kind"] == INFERENCE_POOL_KIND]
    assert_valid_pool(pool, pool_schema)


def test_a_label_added_to_the_pools_selector_by_hand_is_taken_back():
    """A narrower selector would silently drop replicas from the pool: like the other children's specs, what
    another field manager added is removed (decide/takeback.py)."""
    pool = next(o for o in decided(served=True).apply if o["kind"] == INFERENCE_POOL_KIND)
    live = copy.deepcopy(pool)
    live["spec"]["selector"]["matchLabels"]["tier"] = "gold"
    live["metadata"] |= {"generation": 2, "resourceVersion": "9", "managedFields": [
        {"manager": RECONCILER, "operation": "Apply", "fieldsV1": {"f:spec": {"f:selector": {}}}},
        {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:selector": {
            "f:matchLabels": {"f:tier": {}}}}}}]}
    intent = decided(served=True, children={f"{INFERENCE_POOL_KIND}/chat": live})
    (prune,) = intent.prune
    assert (prune.kind, prune.name) == (INFERENCE_POOL_KIND, "chat")
    assert {"op": "remove", "path": "/spec/selector/matchLabels/tier"} in prune.ops


def test_a_rescan_makes_kopf_watch_the_pools_it_missed(monkeypatch):
    """kopf's own look at a new CRD can come before discovery serves it (kopf_resources.py); the rescan, on kopf's
    own code, puts the pool's resource among the watched ones, and takes it out again once it is gone."""
    pools = references.Resource("inference.networking.k8s.io", "v1", "inferencepools", kind="InferencePool",
                                namespaced=True, verbs=["get", "list", "watch", "create", "patch", "delete"])
    served: set[references.Resource] = set()

    async def scan_resources(**_: Any) -> set[references.Resource]:
        return set(served)

    monkeypatch.setattr(scanning, "scan_resources", scan_resources)

    async def scenario() -> list[bool]:
        insights = references.Insights()
        seen = []
        for now_served in (False, True, False):
            served.clear()
            served.update({pools} if now_served else set())
            await rescan("inference.networking.k8s.io", kopf.OperatorSettings(), insights)
            seen.append(pools in insights.watched_resources)
        return seen

    assert asyncio.run(scenario()) == [False, True, False]
