"""Inputs of the render tests and the check that the API server would take the output.

- The examples with hand-built plans (``tests/unit/golden/plans.yaml``).
- Hypothesis strategies for valid LLMDeployments and plans that fit them.
- ``assert_acceptable(obj)``: the Kubernetes OpenAPI schema of the version the
  local control plane runs (strict: unknown fields fail), plus the semantic
  rules the schema cannot express and the API server enforces (quantities,
  names, label syntax, references between fields).
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import kubernetes_validate
import yaml
from hypothesis import strategies as st
from kubernetes.utils.quantity import parse_quantity

from modelfleet.api import LLMDeployment, Plan, parse_llmdeployment
from modelfleet.api.spec import OPERATOR_ENV

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
GOLDEN_DIR = ROOT / "tests" / "unit" / "golden"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))
NAMESPACE = "llm"

# The local control plane runs Kubernetes 1.34 (e2e/local/versions.env).
KUBERNETES_VERSION = "1.34.0"


def example(name: str, namespace: str | None = NAMESPACE) -> LLMDeployment:
    """An example as the controller gets it from the API server (in a namespace)."""
    document = yaml.safe_load((EXAMPLES_DIR / f"{name}.yaml").read_text())
    if namespace:
        document["metadata"]["namespace"] = namespace
    return parse_llmdeployment(document)


def example_plan(name: str) -> Plan:
    plans = yaml.safe_load((GOLDEN_DIR / "plans.yaml").read_text())
    return Plan.model_validate(plans[name])


def with_spec(resource: LLMDeployment, **changes) -> LLMDeployment:
    """The resource with spec fields changed, given as wire paths: ``{"serving.maxModelLen": 4096}``."""
    document = resource.model_dump(by_alias=True, exclude_none=True)
    for path, value in changes.items():
        node = document["spec"]
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return parse_llmdeployment(document)


# --- the API server's view ------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
QUANTITY_KEYS = {"cpu", "memory", "storage", "ephemeral-storage", "nvidia.com/gpu", "sizeLimit"}


def assert_acceptable(obj: dict) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    _check_metadata(obj["metadata"], service=obj["kind"] == "Service")
    _check_quantities(obj)
    template = obj.get("spec", {}).get("template")
    if template is not None:
        assert_selector_matches(obj["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
        _check_labels(template["metadata"]["labels"])
        _check_pod_spec(template["spec"])


def assert_selector_matches(selector: dict, labels: dict) -> None:
    assert selector and all(labels.get(k) == v for k, v in selector.items()), (selector, labels)


def _check_metadata(metadata: dict, service: bool) -> None:
    name = metadata["name"]
    pattern, limit = (DNS_LABEL, 63) if service else (DNS_SUBDOMAIN, 253)
    assert pattern.match(name) and len(name) <= limit, name
    assert "ownerReferences" not in metadata
    _check_labels(metadata.get("labels", {}))


def _check_labels(labels: dict) -> None:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        assert not prefix or (DNS_SUBDOMAIN.match(prefix) and len(prefix) <= 253), key
        assert LABEL_NAME.match(name) and len(name) <= 63, key
        assert isinstance(value, str) and LABEL_VALUE.match(value) and len(value) <= 63, (key, value)


def _check_quantities(node) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in QUANTITY_KEYS and isinstance(value, str):
                parse_quantity(value)  # raises on a malformed quantity
            _check_quantities(value)
    elif isinstance(node, list):
        for item in node:
            _check_quantities(item)


def _check_pod_spec(pod: dict) -> None:
    containers = pod.get("initContainers", []) + pod["containers"]
    names = [c["name"] for c in containers]
    assert len(names) == len(set(names)) and all(DNS_LABEL.match(n) for n in names), names
    volumes = {v["name"] for v in pod.get("volumes", [])}
    assert len(volumes) == len(pod.get("volumes", []))
    for key, value in pod.get("nodeSelector", {}).items():
        _check_labels({key: value})
    for container in containers:
        _check_container(container, volumes)
    for container in pod["containers"]:
        assert "restartPolicy" not in container  # only init containers can be sidecars
    for container in pod.get("initContainers", []):
        if container.get("restartPolicy") != "Always":
            # Probes on a plain init container are refused; a sidecar may have them.
            assert not {"readinessProbe", "livenessProbe", "startupProbe"} & container.keys()


def _check_container(container: dict, volumes: set[str]) -> None:
    mounts = container.get("volumeMounts", [])
    assert all(m["name"] in volumes for m in mounts), (container["name"], mounts)
    assert len({m["mountPath"] for m in mounts}) == len(mounts)
    env = [e["name"] for e in container.get("env", [])]
    assert len(env) == len(set(env)), env
    ports = {p["name"] for p in container.get("ports", [])}
    assert all(PORT_NAME.match(p) and len(p) <= 15 for p in ports), ports
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = container.get(probe, {}).get("httpGet", {}).get("port")
        assert port is None or port in ports, (container["name"], probe, port)
    resources = container.get("resources", {})
    gpus = resources.get("requests", {}).get("nvidia.com/gpu")
    assert gpus == resources.get("limits", {}).get("nvidia.com/gpu")  # extended resources: equal or absent


# --- hypothesis strategies ------------------------------------------------------------------

_lower = string.ascii_lowercase
_alnum = string.ascii_lowercase + string.digits


def _dns_label(max_size: int) -> st.SearchStrategy[str]:
    middle = st.text(_alnum + "-", max_size=max_size - 2)
    return st.builds(lambda a, m, b: a + m + b, st.sampled_from(_lower), middle, st.sampled_from(_alnum)).filter(
        lambda s: len(s) <= max_size
    )


names = st.one_of(st.sampled_from(_lower), _dns_label(52))
label_values = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z")
label_keys = st.one_of(
    st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?(\.[a-z]{2,5})?/[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z"),
    st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z"),
)
model_ids = st.one_of(
    st.sampled_from(["mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mistral-7B-Instruct-v0.3", "gpt2"]),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}/[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z"),
)
revisions = st.one_of(st.just("main"), st.sampled_from(["v1.0", "refs/pr/1"]), st.from_regex(r"\A[0-9a-f]{40}\Z"))
# At least 1Gi (CacheSpec's rule): in Mi from 1024, in G from 2.
quantities = st.one_of(
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 4096), st.sampled_from(["Gi", "Ti"])),
    st.builds(lambda n: f"{n}G", st.integers(2, 4096)),
    st.builds(lambda n: f"{n}Mi", st.integers(1024, 65536)),
)
# Never a name the operator owns (api.spec.OPERATOR_ENV): the API refuses those (tests/unit/test_validate.py).
env_names = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z").filter(lambda name: name not in OPERATOR_ENV)
# "--port" collides with the operator's own flag: the spec must then be refused, not rendered.
extra_args = st.sampled_from(
    ["--enable-prefix-caching", "--disable-log-stats", "--trust-remote-code", "--seed", "7", "--port"])

tolerations = st.one_of(
    st.builds(
        lambda key, effect: {"key": key, "operator": "Exists", **({"effect": effect} if effect else {})},
        label_keys,
        st.sampled_from([None, "NoSchedule", "PreferNoSchedule"]),
    ),
    st.builds(
        lambda key, value, seconds: {
            "key": key, "operator": "Equal", "value": value, "effect": "NoExecute", "tolerationSeconds": seconds,
        },
        label_keys,
        label_values,
        st.integers(0, 3600),
    ),
)

affinities = st.sampled_from(
    [
        None,
        {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 50, "preference": {"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-a"]}]}}
                ]
            }
        },
        {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "engine"}}}}
                ]
            }
        },
    ]
)


@st.composite
def _cache(draw) -> dict:
    mode = draw(st.sampled_from(["pvc", "nodeLocal", "none"]))
    cache: dict = {"mode": mode}
    if draw(st.booleans()):
        cache["size"] = draw(quantities)
    if mode == "pvc" and draw(st.booleans()):
        cache["storageClassName"] = draw(_dns_label(30))
    return cache


@st.composite
def _autoscaling(draw) -> dict:
    low = draw(st.integers(1, 20))
    return {"enabled": draw(st.booleans()), "minReplicas": low, "maxReplicas": draw(st.integers(low, 40))}


@st.composite
def llmdeployments(draw) -> LLMDeployment:
    """Any valid LLMDeployment: engines, quantizations, cache and warm-up modes, TP, placement."""
    model = {
        "id": draw(model_ids),
        "revision": draw(revisions),
        "quantization": draw(st.sampled_from(["none", "fp8", "awq", "gptq", "bitsandbytes-8bit", "bitsandbytes-4bit"])),
        "kvCacheDtype": draw(st.sampled_from(["auto", "fp8"])),
    }
    if draw(st.booleans()):
        model["tokenSecretRef"] = {"name": draw(_dns_label(40)), "key": draw(st.sampled_from(["token", "hf.token"]))}
    if draw(st.booleans()):
        model["servedModelName"] = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,39}", fullmatch=True))
    engine: dict = {"kind": draw(st.sampled_from(["vllm", "tgi"]))}
    if draw(st.booleans()):
        engine["image"] = draw(st.sampled_from(
            ["registry.example.com/vllm:custom", "ghcr.io/acme/tgi@sha256:" + "a" * 64]))
    engine["extraArgs"] = draw(st.lists(extra_args, max_size=3))
    engine["env"] = draw(st.lists(st.builds(lambda n, v: {"name": n, "value": v}, env_names, st.text(max_size=20)),
                                  max_size=4, unique_by=lambda var: var["name"]))
    spec = {
        "model": model,
        "engine": engine,
        "serving": {"maxConcurrency": draw(st.integers(1, 4096))},
        "gpu": {
            "pools": draw(st.lists(_dns_label(20), max_size=3)),
            "tensorParallelSize": draw(st.sampled_from(["auto", 1, 2, 4, 8, 16])),
            "memoryUtilization": draw(st.floats(0.5, 0.98).map(lambda f: round(f, 2))),
        },
        "replicas": draw(st.integers(0, 1000)),
        "autoscaling": draw(_autoscaling()),
        "cache": draw(_cache()),
        "warmup": {"enabled": draw(st.sampled_from(["auto", "true", "false"])),
                   "timeoutSeconds": draw(st.integers(10, 7200))},
        "placement": {
            "nodeSelector": draw(st.dictionaries(label_keys, label_values, max_size=3)),
            "tolerations": draw(st.lists(tolerations, max_size=3)),
        },
    }
    if draw(st.booleans()):
        spec["serving"]["maxModelLen"] = draw(st.integers(16, 1_048_576))
    affinity = draw(affinities)
    if affinity:
        spec["placement"]["affinity"] = affinity
    document = {
        "apiVersion": "modelfleet.io/v1alpha1",
        "kind": "LLMDeployment",
        "metadata": {"name": draw(names), "namespace": draw(_dns_label(63))},
        "spec": spec,
    }
    return parse_llmdeployment(document)


@st.composite
def plans_for(draw, resource: LLMDeployment) -> Plan:
    """A plan the sizing engine could have made for the resource."""
    spec = resource.spec
    tp = (spec.gpu.tensor_parallel_size if spec.gpu.tensor_parallel_size != "auto"
          else draw(st.sampled_from([1, 2, 4, 8])))
    parameters = draw(st.integers(10**8, 10**12))
    weights = parameters * draw(st.sampled_from([0.5, 1.0, 2.0])) / 2**30
    pool = draw(st.sampled_from(spec.gpu.pools or ["h100", "l4"]))
    moe = draw(st.booleans())
    return Plan(
        engine=spec.engine.kind,
        pool=pool,
        gpu_product=draw(st.sampled_from(["NVIDIA-H100-80GB-HBM3", "NVIDIA-L4"])),
        gpu_memory_gi_b=80.0,
        tensor_parallel_size=tp,
        gpus_per_replica=tp,
        expert_parallel=moe and tp > 1 and spec.engine.kind == "vllm",
        mixture_of_experts=moe,
        parameters=parameters,
        weights_gi_b=weights,
        weights_gi_b_per_gpu=weights / tp,
        kv_cache_gi_b_per_gpu=draw(st.floats(0.1, 60)),
        overhead_gi_b_per_gpu=4.0,
        budget_gi_b_per_gpu=72.0,
        max_model_len=spec.serving.max_model_len or draw(st.integers(16, 131_072)),
        max_concurrent_sequences=spec.serving.max_concurrency,
        price_per_hour=draw(st.floats(0, 100)),
        node_selector={"modelfleet.io/pool": pool},
    )
