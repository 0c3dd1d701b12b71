"""Rendering: what each object says, and which spec changes roll the pods."""

from __future__ import annotations

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.render import (
    LLMDEPLOYMENT_LABEL,
    POD_SPEC_HASH_ANNOTATION,
    UnsupportedSpec,
    child_refs,
    endpoint,
    ref_of,
    render_all,
    selector_labels,
    selector_string,
    to_yaml,
)
from support.render_cases import assert_selector_matches, example, example_plan, with_spec

SETTINGS = OperatorSettings()
MIXTRAL = example("mixtral-8x7b-vllm")  # vLLM, nodeLocal, mixture of experts, TP 4
MIXTRAL_PLAN = example_plan("mixtral-8x7b-vllm")
MISTRAL = example("mistral-7b-tgi")  # TGI, cache none, dense, TP 1
MISTRAL_PLAN = example_plan("mistral-7b-tgi")


def render(resource=MIXTRAL, plan=MIXTRAL_PLAN, settings=SETTINGS, replicas=None) -> dict[str, dict]:
    """The objects by kind, the router's left out (tests/unit/test_render_router.py has them)."""
    return {obj["kind"]: obj for obj in render_all(resource, plan, settings, replicas)
            if not obj["metadata"]["name"].endswith(("-router", "-engines"))}


def pod(resource=MIXTRAL, plan=MIXTRAL_PLAN, **kwargs) -> dict:
    return render(resource, plan, **kwargs)["Deployment"]["spec"]["template"]["spec"]


def container(pod_spec: dict, name: str) -> dict:
    return next(c for c in pod_spec.get("initContainers", []) + pod_spec["containers"] if c["name"] == name)


def pod_hash(resource=MIXTRAL, plan=MIXTRAL_PLAN) -> str:
    return render(resource, plan)["Deployment"]["spec"]["template"]["metadata"]["annotations"][POD_SPEC_HASH_ANNOTATION]


# --- determinism and what rolls the pods -----------------------------------------------------


def test_the_same_input_renders_byte_identical_yaml():
    assert to_yaml(render_all(MIXTRAL, MIXTRAL_PLAN, SETTINGS)) == to_yaml(render_all(MIXTRAL, MIXTRAL_PLAN, SETTINGS))


def test_node_selector_order_in_the_spec_does_not_matter():
    a = with_spec(MIXTRAL, **{"placement.nodeSelector": {"a": "1", "b": "2"}})
    b = with_spec(MIXTRAL, **{"placement.nodeSelector": {"b": "2", "a": "1"}})
    assert to_yaml(render_all(a, MIXTRAL_PLAN, SETTINGS)) == to_yaml(render_all(b, MIXTRAL_PLAN, SETTINGS))


@pytest.mark.parametrize(
    "change",
    [
        {"autoscaling.enabled": False},
        {"autoscaling.maxReplicas": 20, "autoscaling.targetQueueDepth": 1.5},
        {"autoscaling.scaleDownStabilizationSeconds": 60},
        {"replicas": 7},
    ],
)
def test_scaling_fields_do_not_touch_the_pod_template(change):
    before = render(MIXTRAL)["Deployment"]["spec"]["template"]
    after = render(with_spec(MIXTRAL, **change), replicas=5)["Deployment"]["spec"]["template"]
    assert after == before


def test_replicas_come_from_the_caller_else_from_the_spec():
    assert render(with_spec(MIXTRAL, replicas=3))["Deployment"]["spec"]["replicas"] == 3
    assert render(with_spec(MIXTRAL, replicas=3), replicas=6)["Deployment"]["spec"]["replicas"] == 6
    assert render(replicas=0)["Deployment"]["spec"]["replicas"] == 0


@pytest.mark.parametrize(
    ("resource", "plan"),
    [
        (with_spec(MIXTRAL, **{"model.revision": "0123456789abcdef0123456789abcdef01234567"}), MIXTRAL_PLAN),
        (MIXTRAL, MIXTRAL_PLAN.model_copy(update={"max_model_len": 16384})),
        (with_spec(MIXTRAL, **{"serving.maxConcurrency": 8}), MIXTRAL_PLAN),
        (with_spec(MIXTRAL, **{"warmup.enabled": "false"}), MIXTRAL_PLAN),
        (with_spec(MIXTRAL, **{"engine.image": "acme/vllm:patched"}), MIXTRAL_PLAN),
    ],
)
def test_what_the_pods_run_changes_the_hash(resource, plan):
    assert pod_hash(resource, plan) != pod_hash()


def test_the_deployment_carries_the_pod_templates_hash():
    deployment = render()["Deployment"]
    assert deployment["metadata"]["annotations"][POD_SPEC_HASH_ANNOTATION] == pod_hash()
    assert len(pod_hash()) == 16


# --- the engine pod ---------------------------------------------------------------------------


def test_one_replica_is_one_pod_with_the_plans_gpus():
    engine = container(pod(), "engine")
    assert engine["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "cpu" not in engine["resources"]["limits"]  # no CFS throttling of the busy-polling workers


def test_host_memory_grows_with_the_gpus_and_covers_shared_memory():
    small = container(pod(MISTRAL, MISTRAL_PLAN), "engine")["resources"]
    large = container(pod(), "engine")["resources"]
    assert small["requests"]["memory"] == "12Gi"  # 4 + 1 × (3 + 5)
    assert large["requests"]["memory"] == "20Gi"  # 4 + 2 × (3 + 5)
    assert large["limits"]["memory"] == "22Gi"  # plus 2 × 1 GiB of /dev/shm
    shm = next(v for v in pod()["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert {"name": "shm", "mountPath": "/dev/shm"} in container(pod(), "engine")["volumeMounts"]


def test_the_startup_probe_waits_longer_for_bigger_weights():
    def startup_seconds(plan):
        probe = container(pod(MIXTRAL, plan), "engine")["startupProbe"]
        return probe["periodSeconds"] * probe["failureThreshold"]

    small = MIXTRAL_PLAN.model_copy(update={"weights_gi_b": 10.0})
    large = MIXTRAL_PLAN.model_copy(update={"weights_gi_b": 500.0})
    assert startup_seconds(small) == 600 + 60
    assert startup_seconds(large) == 600 + 3000  # 10 minutes per 100 GiB


def test_readiness_and_liveness_use_the_health_endpoint_on_the_named_port():
    engine = container(pod(), "engine")
    assert engine["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert engine[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_in_flight_requests_finish_before_the_engine_stops():
    spec = pod()
    pre_stop = container(spec, "engine")["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop == 10 + 300  # endpoints propagate, then a 32k-token request at 50 tokens/s (capped)
    assert spec["terminationGracePeriodSeconds"] == pre_stop + 30
    short = MIXTRAL_PLAN.model_copy(update={"max_model_len": 4096})
    assert container(pod(MIXTRAL, short), "engine")["lifecycle"]["preStop"]["sleep"]["seconds"] == 10 + 82


def test_rolling_update_adds_a_replica_before_removing_one():
    strategy = render()["Deployment"]["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_placement_merges_the_pool_and_the_user_and_the_pool_wins():
    resource = with_spec(
        MIXTRAL,
        **{
            "placement.nodeSelector": {"modelfleet.io/pool": "a100-80gb", "disk": "nvme"},
            "placement.tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"},
            ],
            "placement.affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
        },
    )
    spec = pod(resource)
    assert spec["nodeSelector"] == {"disk": "nvme", "modelfleet.io/pool": "h100"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"},
    ]
    assert spec["affinity"] == {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    assert "affinity" not in render(resource)["DaemonSet"]["spec"]["template"]["spec"]  # per node, not per replica


def test_replicas_spread_over_nodes_without_blocking():
    (spread,) = pod()["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"] == selector_labels("mixtral-8x7b")


def test_user_env_follows_the_engines():
    resource = with_spec(MIXTRAL, **{"engine.env": [{"name": "NCCL_DEBUG", "value": "INFO"}]})
    env = container(pod(resource), "engine")["env"]
    assert [e["name"] for e in env] == [
        "HF_HOME", "HF_HUB_OFFLINE", "HF_MODULES_CACHE", "VLLM_CACHE_ROOT", "HOME", "USER", "NCCL_DEBUG"]


def test_the_token_goes_to_the_prepull_only():
    resource = example("mixtral-8x22b-fp8")
    spec = pod(resource, example_plan("mixtral-8x22b-fp8"))
    token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    assert token in container(spec, "prepull")["env"]
    assert all(e["name"] != "HF_TOKEN" for e in container(spec, "engine")["env"])  # it runs offline
    assert all(e["name"] != "HF_TOKEN" for e in container(pod(), "prepull")["env"])


def test_the_pod_stays_out_of_the_kubernetes_api_and_service_links():
    spec = pod()
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False


# --- runtime containers ----------------------------------------------------------------------


def test_init_containers_run_prepull_then_the_warmup_sidecar():
    spec = pod()
    assert [c["name"] for c in spec["initContainers"]] == ["cache-permissions", "prepull", "warmup"]
    prepull = container(spec, "prepull")
    assert prepull["command"] == ["modelfleet"]
    assert prepull["args"][:5] == [
        "prepull", "--model-id", "mistralai/Mixtral-8x7B-Instruct-v0.1", "--revision", "main"
    ]
    assert "model*.safetensors" in prepull["args"]
    assert prepull["image"] == SETTINGS.runtime_image


def test_the_warmup_sidecar_gates_readiness_without_holding_the_engine_back():
    warmup = container(pod(), "warmup")
    assert warmup["restartPolicy"] == "Always"
    assert "startupProbe" not in warmup
    assert warmup["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "warmup"}
    args = warmup["args"]
    assert args[args.index("--engine-url") + 1] == "http://127.0.0.1:8000"
    assert args[args.index("--max-model-len") + 1] == "32768"
    assert args[args.index("--max-concurrency") + 1] == "10"
    assert args[args.index("--served-model-name") + 1] == "mistralai/Mixtral-8x7B-Instruct-v0.1"


@pytest.mark.parametrize(
    ("enabled", "moe", "sidecar"),
    [("auto", True, True), ("auto", False, False), ("true", False, True), ("false", True, False)],
)
def test_warmup_is_on_for_mixture_of_experts_unless_told(enabled, moe, sidecar):
    resource = with_spec(MIXTRAL, **{"warmup.enabled": enabled})
    plan = MIXTRAL_PLAN.model_copy(update={"mixture_of_experts": moe})
    names = [c["name"] for c in pod(resource, plan)["initContainers"]]
    assert ("warmup" in names) is sidecar


@pytest.mark.parametrize("name", ["prepull", "warmup"])
def test_runtime_containers_are_restricted(name):
    context = container(pod(), name)["securityContext"]
    assert context == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_the_engine_runs_restricted_as_the_runtime_user_at_home_in_its_scratch():
    engine = container(pod(), "engine")
    context = engine["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["allowPrivilegeEscalation"] is False
    assert (context["runAsNonRoot"], context["runAsUser"], context["runAsGroup"]) == (True, 65532, 65532)
    env = {e["name"]: e["value"] for e in engine["env"]}
    assert env["HOME"] == "/scratch" and env["USER"]
    assert engine["workingDir"] == "/scratch"  # TGI's router writes ./out/tokenizer.json


def test_only_cache_permissions_has_capabilities_and_only_chown_and_fowner():
    cache_permissions = container(pod(), "cache-permissions")
    context = cache_permissions["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert context["allowPrivilegeEscalation"] is False
    # Group-writable and setgid, for the runtime user and the fsGroup: the cache, and the engine's compile directory
    # on the node (nodeLocal).
    assert cache_permissions["command"] == ["install", "-d", "-o", "65532", "-g", "65532", "-m", "2775", "/cache",
                                            "/compile"]


# --- cache modes -----------------------------------------------------------------------------


def test_pvc_cache_is_one_shared_claim():
    resource = with_spec(MIXTRAL, **{"cache.mode": "pvc", "cache.storageClassName": "filestore"})
    objects = render(resource)
    claim = objects["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "mixtral-8x7b-cache"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "filestore"
    assert claim["spec"]["resources"]["requests"]["storage"] == "105Gi"  # 87 GiB + 20%
    volume = next(v for v in pod(resource)["volumes"] if v["name"] == "cache")
    assert volume == {"name": "cache", "persistentVolumeClaim": {"claimName": "mixtral-8x7b-cache"}}
    assert "DaemonSet" not in objects
    # NFS-like and hostPath-backed volumes ignore fsGroup: the root is handed over as on the node.
    assert [c["name"] for c in pod(resource)["initContainers"]][:2] == ["cache-permissions", "prepull"]
    none = with_spec(MIXTRAL, **{"cache.mode": "none"})
    assert "cache-permissions" not in [c["name"] for c in pod(none)["initContainers"]]


def test_a_checkpoint_quantized_at_load_is_sized_at_16_bits():
    resource = with_spec(MIXTRAL, **{"cache.mode": "pvc", "model.quantization": "fp8"})
    fp8_plan = MIXTRAL_PLAN.model_copy(update={"weights_gi_b": 43.5})  # one byte per parameter on the GPUs
    claim = render(resource, fp8_plan)["PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "105Gi"  # 46.7 B parameters × 2 bytes + 20%
    sized = with_spec(resource, **{"cache.size": "300Gi"})
    assert render(sized, fp8_plan)["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "300Gi"
    awq = with_spec(resource, **{"model.quantization": "awq"})
    assert render(awq, fp8_plan)["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "53Gi"


def test_node_local_cache_is_a_host_directory_filled_by_a_daemonset():
    settings = OperatorSettings(node_cache_path="/mnt/nvme/models")
    objects = render(settings=settings)
    volume = next(v for v in objects["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "cache")
    assert volume["hostPath"] == {"path": "/mnt/nvme/models", "type": "DirectoryOrCreate"}
    daemonset = objects["DaemonSet"]
    assert daemonset["metadata"]["name"] == "mixtral-8x7b-prepull"
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"modelfleet.io/pool": "h100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert [c["name"] for c in spec["initContainers"]] == ["cache-permissions", "prepull"]
    assert container(spec, "prepull") == container(objects["Deployment"]["spec"]["template"]["spec"], "prepull")
    for c in spec["initContainers"] + spec["containers"]:
        assert "nvidia.com/gpu" not in c.get("resources", {}).get("requests", {})
    assert "PersistentVolumeClaim" not in objects


def test_no_cache_is_an_empty_dir_the_scheduler_makes_room_for():
    objects = render(MISTRAL, MISTRAL_PLAN)
    spec = objects["Deployment"]["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "cache")
    assert volume == {"name": "cache", "emptyDir": {"sizeLimit": "17Gi"}}  # 13.5 GiB + 20%
    assert container(spec, "engine")["resources"]["requests"]["ephemeral-storage"] == "17Gi"
    assert {"PersistentVolumeClaim", "DaemonSet"}.isdisjoint(objects)
    assert [c["name"] for c in spec["initContainers"]] == ["prepull"]  # dense model: no warm-up


# --- the other objects, labels and names ----------------------------------------------------


def test_the_service_serves_the_openai_api_on_the_named_port():
    service = render()["Service"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}
    ]
    assert service["spec"]["selector"] == selector_labels("mixtral-8x7b", "router")  # routing is on by default
    assert endpoint(MIXTRAL) == "http://mixtral-8x7b.llm.svc:8000/v1"


def test_the_disruption_budget_lets_drains_take_one_replica_at_a_time():
    spec = render()["PodDisruptionBudget"]["spec"]
    assert spec == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector_labels("mixtral-8x7b")},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_every_object_is_labelled_and_namespaced_without_owner_references():
    for obj in render_all(with_spec(MIXTRAL, **{"cache.mode": "pvc"}), MIXTRAL_PLAN, SETTINGS) + render_all(
        MIXTRAL, MIXTRAL_PLAN, SETTINGS
    ):
        metadata = obj["metadata"]
        assert metadata["namespace"] == "llm"
        assert "ownerReferences" not in metadata
        assert metadata["labels"]["app.kubernetes.io/instance"] == "mixtral-8x7b"
        assert metadata["labels"]["app.kubernetes.io/part-of"] == "modelfleet"
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "modelfleet"
        assert metadata["labels"]["app.kubernetes.io/name"] == "vllm"
        assert metadata["labels"]["app.kubernetes.io/component"] in {"engine", "cache", "prepull", "router"}
        assert metadata["labels"][LLMDEPLOYMENT_LABEL] == "mixtral-8x7b"


def test_the_engine_selector_picks_engine_pods_and_not_prepull_pods():
    objects = render()
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert_selector_matches(selector_labels("mixtral-8x7b"), pod_labels)
    prepull_labels = objects["DaemonSet"]["spec"]["template"]["metadata"]["labels"]
    assert any(prepull_labels.get(k) != v for k, v in selector_labels("mixtral-8x7b").items())
    assert selector_string("mixtral-8x7b") == (
        "modelfleet.io/llmdeployment=mixtral-8x7b,app.kubernetes.io/component=engine"
    )


def test_switching_engines_keeps_the_selectors_and_the_service():
    tgi = with_spec(MIXTRAL, **{"engine.kind": "tgi"})
    plan = MIXTRAL_PLAN.model_copy(update={"expert_parallel": False})
    before, after = render(), render(tgi, plan)
    assert after["Deployment"]["spec"]["selector"] == before["Deployment"]["spec"]["selector"]
    assert after["Service"]["spec"] == before["Service"]["spec"]


@pytest.mark.parametrize("mode", ["pvc", "nodeLocal", "none"])
def test_child_refs_name_every_rendered_object(mode):
    objects = render_all(with_spec(MIXTRAL, **{"cache.mode": mode}), MIXTRAL_PLAN, SETTINGS)
    refs = child_refs("mixtral-8x7b")
    rendered = [ref_of(obj) for obj in objects]
    assert set(rendered) <= set(refs)
    assert rendered == [ref for ref in refs if ref in rendered]  # apply order


def test_a_namespace_less_resource_renders_namespace_less_objects():
    resource = example("mistral-7b-tgi", namespace=None)
    assert all("namespace" not in obj["metadata"] for obj in render_all(resource, MISTRAL_PLAN, SETTINGS))


def test_a_spec_the_engine_cannot_serve_renders_nothing():
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": ["--port", "9000"]})
    with pytest.raises(UnsupportedSpec) as raised:
        render_all(resource, MIXTRAL_PLAN, SETTINGS)
    assert raised.value.problems == [
        "extraArgs repeat flags the operator sets from the spec: --port (vLLM would take the last one); "
        "set the spec's fields instead"
    ]


def test_engine_requests_stay_within_the_replicas_share_of_its_node():
    """A node with 2 CPUs and 24 GiB for 4 GPUs: one GPU's replica may take a quarter of it."""
    from modelfleet.render.resources import engine_resources
    plan = example_plan("mistral-7b-vllm").model_copy(update={
        "tensor_parallel_size": 1, "gpus_per_replica": 1,
        "node_share_cpu_millicores": 500, "node_share_memory_mi_b": 5976})
    resources = engine_resources(plan, None)
    assert resources["requests"]["cpu"] == "500m" and resources["requests"]["memory"] == "5976Mi"
    assert resources["limits"]["memory"] == "7000Mi"  # the request plus the /dev/shm volume (1 GiB per GPU)
    roomy = plan.model_copy(update={"node_share_cpu_millicores": 24000, "node_share_memory_mi_b": 262144})
    assert engine_resources(roomy, None)["requests"]["cpu"] == "4"
    assert engine_resources(roomy, None)["requests"]["memory"].endswith("Gi")
