"""The compile cache: one directory per LLMDeployment, keyed by what changes the compiled graph (render.cache)."""

from __future__ import annotations

import pytest

from modelfleet.api import LLMDeployment, OperatorSettings
from modelfleet.engines import cache_layout
from modelfleet.render import render_all
from modelfleet.render.cache import COMPILE_CACHE_SUBDIR
from support.render_cases import example, example_plan, with_spec

EXAMPLE = "mixtral-8x7b-vllm"
SETTINGS = OperatorSettings()


def owned(resource: LLMDeployment, uid: str) -> LLMDeployment:
    return resource.model_copy(update={"metadata": {**resource.metadata, "uid": uid}})


def pod(resource: LLMDeployment) -> dict:
    deployment = next(o for o in render_all(resource, example_plan(EXAMPLE), SETTINGS) if o["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]


def engine_mounts(pod_spec: dict) -> dict[str, dict]:
    engine = next(c for c in pod_spec["containers"] if c["name"] == "engine")
    return {m["mountPath"]: m for m in engine["volumeMounts"]}


def compile_dir(resource: LLMDeployment) -> str:
    """Where the engine's compile directory comes from: a node path, or the claim's sub-directory."""
    pod_spec = pod(resource)
    mount = engine_mounts(pod_spec)[cache_layout.VLLM_CACHE_ROOT]
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mount["name"])
    return volume["hostPath"]["path"] if "hostPath" in volume else f"claim:{mount['subPath']}"


def test_node_local_keeps_it_under_the_objects_namespace_and_uid_writable_by_its_engine():
    resource = owned(with_spec(example(EXAMPLE), **{"cache.mode": "nodeLocal"}), "uid-a")
    pod_spec = pod(resource)
    mount = engine_mounts(pod_spec)[cache_layout.VLLM_CACHE_ROOT]
    assert not mount.get("readOnly", False)
    volume = next(v for v in pod_spec["volumes"] if v["name"] == mount["name"])
    namespace = resource.metadata["namespace"]
    assert volume["hostPath"]["path"].startswith(f"{SETTINGS.node_compile_cache_path}/{namespace}/uid-a/")
    assert volume["hostPath"]["type"] == "DirectoryOrCreate"
    # the weights stay read-only; besides the engine only cache-permissions mounts it, to hand it to the engine's user
    weights = cache_layout.engine_weights_mount(resource.spec.model.id)[1]
    assert engine_mounts(pod_spec)[weights]["readOnly"] is True
    for container in pod_spec.get("initContainers", []):
        mounts_it = any(m["name"] == mount["name"] for m in container.get("volumeMounts", []))
        assert mounts_it == (container["name"] == "cache-permissions"), container["name"]


def test_no_two_objects_share_one_not_across_namespaces_nor_a_re_created_name():
    base = with_spec(example(EXAMPLE), **{"cache.mode": "nodeLocal"})
    other_namespace = base.model_copy(update={"metadata": {**base.metadata, "namespace": "team-b"}})
    dirs = {compile_dir(owned(base, "uid-a")), compile_dir(owned(base, "uid-b")),
            compile_dir(owned(other_namespace, "uid-a"))}
    assert len(dirs) == 3


@pytest.mark.parametrize("change", [
    {"engine.image": "vllm/vllm-openai:v0.33.0"},
    {"model.revision": "0123456789abcdef0123456789abcdef01234567"},
    {"engine.extraArgs": ["--enforce-eager"]},
    {"serving.maxConcurrency": 8},
])
def test_the_key_moves_with_image_revision_and_flags(change):
    base = owned(with_spec(example(EXAMPLE), **{"cache.mode": "nodeLocal"}), "uid-a")
    assert compile_dir(base) == compile_dir(owned(with_spec(base, **{"cache.mode": "nodeLocal"}), "uid-a"))
    assert compile_dir(base) != compile_dir(owned(with_spec(base, **change), "uid-a"))


def test_pvc_keeps_it_in_the_objects_own_claim_beside_never_over_the_weights():
    resource = owned(with_spec(example(EXAMPLE), **{"cache.mode": "pvc"}), "uid-a")
    where = compile_dir(resource)
    assert where.startswith(f"claim:{COMPILE_CACHE_SUBDIR}/")
    assert not any("hostPath" in v for v in pod(resource)["volumes"])


@pytest.mark.parametrize("changes", [{"cache.mode": "none"}, {"cache.mode": "nodeLocal", "cache.compileCache": False},
                                     {"cache.mode": "nodeLocal", "engine.kind": "tgi"}])
def test_otherwise_each_pod_compiles_into_its_own_scratch(changes):
    pod_spec = pod(owned(with_spec(example(EXAMPLE), **changes), "uid-a"))
    assert cache_layout.VLLM_CACHE_ROOT not in engine_mounts(pod_spec)
    assert all(v["name"] != "compile-cache" for v in pod_spec["volumes"])


def test_in_the_claim_cache_permissions_makes_the_keyed_directory_for_the_engines_user():
    resource = owned(with_spec(example(EXAMPLE), **{"cache.mode": "pvc"}), "uid-a")
    pod_spec = pod(resource)
    mount = engine_mounts(pod_spec)[cache_layout.VLLM_CACHE_ROOT]
    step = next(c for c in pod_spec["initContainers"] if c["name"] == "cache-permissions")
    assert step["command"][-1] == f"/cache/{mount['subPath']}" and f"/cache/{COMPILE_CACHE_SUBDIR}" in step["command"]


def test_restricted_pods_have_no_root_step():
    resource = owned(with_spec(example(EXAMPLE), **{"cache.mode": "pvc", "cache.compileCache": False}), "uid-a")
    objects = render_all(resource, example_plan(EXAMPLE), SETTINGS, restricted=True)
    pod_spec = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    for container in pod_spec["initContainers"] + pod_spec["containers"]:
        assert container["securityContext"]["runAsNonRoot"] is True, container["name"]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, container["name"]
