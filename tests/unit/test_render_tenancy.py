"""Weights by tenancy (render.cache): token-fetched weights in their namespace's node directory, public ones
shared; an engine mounts only its own model's directory of the cache, read-only."""

from __future__ import annotations

import posixpath

import pytest
from huggingface_hub.file_download import repo_folder_name
from pydantic import ValidationError

from modelfleet.api import LLMDeployment, OperatorSettings
from modelfleet.api.runtime_args import PrepullArgs
from modelfleet.engines import cache_layout
from modelfleet.render import render_all
from modelfleet.render.cache import CACHE_VOLUME
from modelfleet.runtime.prepull import PrepullRequest
from support.render_cases import example, example_plan, with_spec

SETTINGS = OperatorSettings()
MIXTRAL = "mixtral-8x7b-vllm"  # nodeLocal, no token
TGI = "mistral-7b-tgi"
TOKEN = {"name": "hf-token", "key": "token"}
MODES = ["nodeLocal", "pvc", "none"]


def in_namespace(resource: LLMDeployment, namespace: str) -> LLMDeployment:
    return resource.model_copy(update={"metadata": {**resource.metadata, "namespace": namespace}})


def tenant(namespace: str, token: bool, mode: str = "nodeLocal", name: str = MIXTRAL) -> LLMDeployment:
    changes = {"cache.mode": mode, **({"model.tokenSecretRef": TOKEN} if token else {})}
    return in_namespace(with_spec(example(name), **changes), namespace)


def pod_specs(resource: LLMDeployment, name: str = MIXTRAL) -> dict[str, dict]:
    """Each rendered workload's pod spec by kind (Deployment, and DaemonSet in nodeLocal mode)."""
    return {o["kind"]: o["spec"]["template"]["spec"] for o in render_all(resource, example_plan(name), SETTINGS)
            if o["kind"] in ("Deployment", "DaemonSet") and not o["metadata"]["name"].endswith("-router")}


def host_paths(resource: LLMDeployment) -> set[str]:
    return {v["hostPath"]["path"] for spec in pod_specs(resource).values() for v in spec["volumes"] if "hostPath" in v}


def weights_dir(resource: LLMDeployment) -> str:
    (path,) = {next(v for v in spec["volumes"] if v["name"] == CACHE_VOLUME)["hostPath"]["path"]
               for spec in pod_specs(resource).values()}
    return path


def reaches(mounted: str, target: str) -> bool:
    """Whether a pod that mounts host directory ``mounted`` sees ``target`` (the same or a directory under it)."""
    return mounted == target or target.startswith(mounted.rstrip("/") + "/")


def containers(pod_spec: dict) -> list[dict]:
    return pod_spec.get("initContainers", []) + pod_spec["containers"]


def cache_mounts(container: dict) -> list[dict]:
    return [m for m in container.get("volumeMounts", []) if m["name"] == CACHE_VOLUME]


# ------------------------------------------------------------------ where the node keeps the weights

def test_public_weights_are_one_node_directory_for_every_namespace():
    assert weights_dir(tenant("team-a", token=False)) == weights_dir(tenant("team-b", token=False)) \
        == SETTINGS.node_cache_path


def test_token_fetched_weights_are_in_their_namespaces_own_directory():
    a, b = weights_dir(tenant("team-a", token=True)), weights_dir(tenant("team-b", token=True))
    assert a == f"{SETTINGS.node_private_cache_path}/team-a" and b == f"{SETTINGS.node_private_cache_path}/team-b"
    # the Deployment's pods and the DaemonSet's pre-pull (weights_dir found both) write there alone
    assert set(pod_specs(tenant("team-a", token=True))) == {"Deployment", "DaemonSet"}


@pytest.mark.parametrize("b_token", [False, True], ids=["b-public", "b-with-its-own-token"])
def test_nothing_another_namespace_mounts_reaches_a_namespaces_private_weights(b_token):
    private_a = weights_dir(tenant("team-a", token=True))
    for name in (MIXTRAL, "mistral-7b-vllm"):
        b = tenant("team-b", token=b_token, name=name)
        assert not any(reaches(path, private_a) for path in host_paths(b)), host_paths(b)
    # and A's pods reach no public directory: they fetch what they read with their own token
    assert not any(reaches(path, SETTINGS.node_cache_path) for path in host_paths(tenant("team-a", token=True)))


def test_the_private_root_must_lie_apart_from_the_public_one():
    for inside in ("/var/lib/modelfleet/cache/private", "/var/lib/modelfleet/cache", "/var/lib/modelfleet"):
        with pytest.raises(ValidationError, match="nodePrivateCachePath"):
            OperatorSettings(node_cache_path="/var/lib/modelfleet/cache", node_private_cache_path=inside)
    apart = OperatorSettings(node_cache_path="/mnt/nvme/models", node_private_cache_path="/mnt/nvme/private")
    assert apart.node_private_cache_path == "/mnt/nvme/private"


# ------------------------------------------------------------------ what each container mounts

@pytest.mark.parametrize("name", [MIXTRAL, TGI])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("token", [False, True], ids=["public", "token"])
def test_the_engine_mounts_only_its_models_directory_read_only(name, mode, token):
    resource = tenant("team-a", token=token, mode=mode, name=name)
    engine = next(c for c in pod_specs(resource, name)["Deployment"]["containers"] if c["name"] == "engine")
    repo = f"models--{resource.spec.model.id.replace('/', '--')}"
    assert cache_mounts(engine)[0] == {"name": CACHE_VOLUME, "readOnly": True,
                                       "mountPath": f"/cache/huggingface/hub/{repo}",
                                       "subPath": f"huggingface/hub/{repo}"}
    # A second mount of the volume is the pvc claim's compile directory, nothing of the weights.
    for other in cache_mounts(engine)[1:]:
        assert other["subPath"].startswith("modelfleet-compile/") and mode == "pvc", other
    # where the engine's hub client looks (HF_HOME/hub, or TGI's HUGGINGFACE_HUB_CACHE) holds that directory
    env = {e["name"]: e["value"] for e in engine["env"]}
    hub = env.get("HUGGINGFACE_HUB_CACHE", posixpath.join(env["HF_HOME"], "hub"))
    assert posixpath.dirname(cache_mounts(engine)[0]["mountPath"]) == hub


@pytest.mark.parametrize("mode", MODES)
def test_only_the_runtime_containers_mount_the_cache_whole_and_the_warm_up_none_of_it(mode):
    for kind, pod_spec in pod_specs(tenant("team-a", token=True, mode=mode)).items():
        for container in containers(pod_spec):
            whole = [m for m in cache_mounts(container) if "subPath" not in m]
            if container["name"] in ("prepull", "cache-permissions"):
                assert container["image"] == SETTINGS.runtime_image and whole, (kind, container["name"])
            else:  # the engine (the tenant's image), the warm-up sidecar, the DaemonSet's idle container
                assert not whole, (kind, container["name"])
                if container["name"] != "engine":
                    assert not cache_mounts(container), (kind, container["name"])


@pytest.mark.parametrize("model_id", ["acme/tiny-mixtral", "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt2",
                                      "org.name/model_v1.5-it"])
def test_the_engines_directory_is_the_one_the_prepull_fills(model_id):
    """The renderer names the directory without huggingface-hub's validating function; the pre-pull lays it out
    with that function: the two agree on every id the Hub accepts."""
    assert cache_layout.repo_dir(model_id) == repo_folder_name(repo_id=model_id, repo_type="model")
    resource = with_spec(example(MIXTRAL), **{"model.id": model_id})
    prepull = next(c for c in pod_specs(resource)["Deployment"]["initContainers"] if c["name"] == "prepull")
    storage = PrepullRequest(PrepullArgs.parse(prepull["args"]), endpoint="https://huggingface.co").storage
    engine = next(c for c in pod_specs(resource)["Deployment"]["containers"] if c["name"] == "engine")
    assert cache_mounts(engine)[0]["mountPath"] == str(storage)
