"""The engine reads the shared cache and never writes it; the variables that say so are the operator's.

``api.spec.OPERATOR_ENV`` (what ``spec.engine.env`` may not set) is written
by hand in the API layer, which may not import the engines or the renderer:
these tests render every engine and cache mode and hold the list to what the
renderer really sets.
"""

from __future__ import annotations

import itertools

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.api.spec import OPERATOR_ENV, EnvVar
from modelfleet.engines import cache_layout
from modelfleet.render import render_all
from modelfleet.render.cache import COMPILE_CACHE_SUBDIR
from support.render_cases import example, example_plan, with_spec

# Spellings huggingface_hub also reads (constants.py) that the renderer itself does not set.
HUB_CLIENT_ALIASES = {"HF_HUB_CACHE", "HUGGING_FACE_HUB_TOKEN"}
RUNTIME_CONTAINERS = ("engine", "prepull", "warmup", "cache-permissions")
CASES = list(itertools.product(
    [("mixtral-8x7b-vllm", "vllm"), ("mistral-7b-tgi", "tgi")],
    ["nodeLocal", "pvc", "none"],
    [False, True],  # a token Secret
    [None, "https://hub.example.com"],  # settings.hubEndpoint
))


def pods(example_name: str, kind: str, mode: str, token: bool, endpoint: str | None, env=()) -> list[dict]:
    changes = {"engine.kind": kind, "cache": {"mode": mode}, "warmup.enabled": "true", "engine.env": list(env)}
    if token:
        changes["model.tokenSecretRef"] = {"name": "hf-token"}
    resource = with_spec(example(example_name), **changes)
    objects = render_all(resource, example_plan(example_name), OperatorSettings(hub_endpoint=endpoint))
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "DaemonSet")]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def rendered_env_names() -> set[str]:
    return {
        var["name"]
        for case in CASES
        for pod in pods(*case[0], *case[1:])
        for container in containers(pod)
        if container["name"] in RUNTIME_CONTAINERS
        for var in container.get("env", [])
    }


def test_every_variable_the_operator_sets_is_one_the_api_refuses():
    assert rendered_env_names() <= set(OPERATOR_ENV)


def test_the_api_refuses_only_what_the_operator_sets_and_the_hub_clients_other_spellings():
    assert set(OPERATOR_ENV) == rendered_env_names() | HUB_CLIENT_ALIASES


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(p) for p in c))
def test_only_the_prepull_writes_the_cache(case):
    (example_name, kind), mode, token, endpoint = case
    for pod in pods(example_name, kind, mode, token, endpoint):
        for container in containers(pod):
            for mount in container.get("volumeMounts", []):
                if mount["name"] != "cache":
                    continue
                writes = not mount.get("readOnly", False)
                if container["name"] == "engine" and writes:
                    # the engine's own compile directory in its claim (pvc), never the hub cache beside it
                    assert mount["subPath"].startswith(f"{COMPILE_CACHE_SUBDIR}/"), mount
                    continue
                assert writes == (container["name"] in ("prepull", "cache-permissions")), (container["name"], mount)


@pytest.mark.parametrize("mode", ["nodeLocal", "pvc", "none"])
def test_what_the_engine_writes_goes_to_its_pods_own_bounded_scratch(mode):
    (pod,) = [p for p in pods("mixtral-8x7b-vllm", "vllm", mode, False, None) if "engine" in
              [c["name"] for c in p["containers"]]]
    engine = next(c for c in pod["containers"] if c["name"] == "engine")
    env = {var["name"]: var["value"] for var in engine["env"]}
    scratch = next(m for m in engine["volumeMounts"] if m["mountPath"] == cache_layout.SCRATCH_PATH)
    assert not scratch.get("readOnly", False)
    volume = next(v for v in pod["volumes"] if v["name"] == scratch["name"])
    assert set(volume) == {"name", "emptyDir"} and volume["emptyDir"]["sizeLimit"]
    for name in ("VLLM_CACHE_ROOT", "HF_MODULES_CACHE"):
        assert env[name].startswith(cache_layout.SCRATCH_PATH + "/"), name
        assert not env[name].startswith(cache_layout.MOUNT_PATH + "/"), name


def test_a_stored_object_that_sets_an_operator_variable_still_gets_the_operators():
    """An object stored before the API refused these names renders with ours, not its own."""
    resource = example("mixtral-8x7b-vllm")
    hostile = resource.model_copy(update={"spec": resource.spec.model_copy(update={
        "engine": resource.spec.engine.model_copy(update={"env": [
            EnvVar(name="HF_HUB_OFFLINE", value="0"), EnvVar(name="HF_HOME", value="/elsewhere"),
            EnvVar(name="NCCL_DEBUG", value="INFO")]})})})
    deployment = next(o for o in render_all(hostile, example_plan("mixtral-8x7b-vllm"), OperatorSettings())
                      if o["kind"] == "Deployment")
    engine = deployment["spec"]["template"]["spec"]["containers"][0]
    env = [(var["name"], var["value"]) for var in engine["env"]]
    assert ("HF_HUB_OFFLINE", "1") in env and ("HF_HOME", cache_layout.HF_HOME) in env
    assert ("NCCL_DEBUG", "INFO") in env
    assert len({name for name, _ in env}) == len(env)
