"""The Helm chart, rendered by real Helm (the version e2e/local pins), without a cluster.

Installing, upgrading and uninstalling on a real API server:
tests/integration/test_chart_lifecycle.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from localcluster import node, nodes, settings as cluster_settings
from localcluster.operator import IDLE_CHART_OPERATOR, PROCESS_SETTINGS
from modelfleet.api import OperatorSettings
from modelfleet.cli.crd_cmd import crd_yaml
from modelfleet.controller.config import load_process_config
from modelfleet.render.router import router_pod_spec
from support.render_cases import assert_acceptable, example

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelfleet"
NAMESPACE = "modelfleet-system"
LOCAL_VALUES = ROOT / "e2e" / "local" / "values.yaml"
REAL_NODE = "real-0"

# Rendered kinds with no schema in kubernetes-validate: the ServiceMonitor is
# prometheus-operator's custom resource, not part of the Kubernetes API.
NO_KUBERNETES_SCHEMA = {"ServiceMonitor"}

EVERY_SETTING = {
    "poolLabelKey": "example.com/gpu-pool",
    "declaredPools": [
        {"name": "h100-spot", "gpuProduct": "NVIDIA-H100-80GB-HBM3", "gpusPerNode": 8, "pricePerGpuHour": 1.9,
         "nodeSelector": {"example.com/gpu-pool": "h100-spot"}},
        {"name": "l4", "gpuProduct": "NVIDIA-L4", "gpusPerNode": 1, "gpuMemoryMiB": 23034},
    ],
    "gpuPrices": {"NVIDIA-H100-80GB-HBM3": 2.49, "NVIDIA-L4": 1},
    "engineImages": {"vllm": "registry.example.com/vllm:v0.11.0", "tgi": "registry.example.com/tgi:3.3.0"},
    "allowTrustRemoteCode": True,
    "runtimeImage": "registry.example.com/modelfleet-runtime:0.1.0",
    "nodeCachePath": "/mnt/models",
    "router": {
        "cpuRequest": "500m",
        "nodeSelector": {"example.com/pool": "cpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "routers", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    },
    "inferencePool": {"enabled": False, "endpointPicker": {"serviceSuffix": "-picker", "port": 9102,
                                                           "failureMode": "FailClose"}},
}
EVERYTHING_ON = {
    **EVERY_SETTING,
    "resyncSeconds": 15,
    "watchNamespaces": ["llm", "llm-staging"],
    "hubTokenSecretRef": {"name": "hf-token"},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
}


@pytest.fixture(scope="module")
def helm() -> Path:
    """The pinned helm `make helm` builds; MODELFLEET_HELM names another build of it (a unit-tier run with
    its caches pointed elsewhere, to time it without any Go build)."""
    path = Path(os.environ.get("MODELFLEET_HELM") or cluster_settings.binary("helm"))
    if not path.exists():
        pytest.fail(f"no helm at {path}: `make helm` builds it", pytrace=False)
    return path


def run_helm(helm: Path, *args: str, values: dict | None = None, tmp_path: Path | None = None):
    extra = []
    if values is not None:
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        extra = ["-f", str(values_file)]
    return subprocess.run([str(helm), *args, *extra], capture_output=True, text=True, timeout=60)


def render(helm: Path, tmp_path: Path, values: dict | None = None, *args: str) -> list[dict]:
    done = run_helm(helm, "template", "modelfleet", str(CHART), "--namespace", NAMESPACE, *args,
                    values=values, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def by_kind(objects: list[dict], kind: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def operator_container(objects: list[dict]) -> dict:
    (container,) = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


# --- lint, schemas ------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [None, EVERYTHING_ON], ids=["defaults", "everything-on"])
@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_helm_lint_is_clean(helm, tmp_path, values, strict):
    done = run_helm(helm, "lint", str(CHART), *(["--strict"] if strict else []), values=values, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("values", [None, EVERYTHING_ON], ids=["defaults", "everything-on"])
def test_every_rendered_object_validates_against_kubernetes_1_34(helm, tmp_path, values):
    objects = render(helm, tmp_path, values)
    checked = [o for o in objects if o["kind"] not in NO_KUBERNETES_SCHEMA]
    for obj in checked:
        assert_acceptable(obj)
    kinds = {o["kind"] for o in checked}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
            "ConfigMap", "Service"} <= kinds


def test_committed_values_schema_is_the_generated_one():
    spec = importlib.util.spec_from_file_location("values_schema", ROOT / "charts" / "values_schema.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    assert (CHART / "values.schema.json").read_text() == module.schema_json(), (
        "values.schema.json is stale: python charts/values_schema.py > charts/modelfleet/values.schema.json")


def test_the_chart_crd_is_the_generated_crd():
    assert (CHART / "files" / "llmdeployments.modelfleet.io.yaml").read_text() == crd_yaml(), (
        "the chart's CRD is stale: run `make crds`")


@pytest.mark.parametrize(("values", "args", "named"), [
    ({"resyncSecond": 5}, (), "additional properties 'resyncSecond' not allowed"),
    (None, ("--set", "operatr.x=1"), "additional properties 'operatr' not allowed"),
    ({"engineImages": {"vlm": "my/vllm:1"}}, (), "at '/engineImages': additional properties 'vlm' not allowed"),
    ({"declaredPools": [{"name": "a", "gpuProduct": "NVIDIA-L4", "gpusPerNod": 1}]}, (),
     "at '/declaredPools/0': additional properties 'gpusPerNod' not allowed"),
    ({"serviceMonitor": {"enable": True}}, (), "at '/serviceMonitor': additional properties 'enable' not allowed"),
    ({"resources": {"request": {"cpu": "1"}}}, (), "at '/resources': additional properties 'request' not allowed"),
    ({"router": {"cpuRequst": "1"}}, (), "at '/router': additional properties 'cpuRequst' not allowed"),
], ids=["top-level-file", "top-level-set", "engine-kind", "declared-pool", "service-monitor", "kubernetes-type",
        "router"])
def test_a_mistyped_value_is_refused_and_named(helm, tmp_path, values, args, named):
    for command in ("template", "lint"):
        target = ("modelfleet", str(CHART)) if command == "template" else (str(CHART),)
        done = run_helm(helm, command, *target, *args, values=values, tmp_path=tmp_path)
        assert done.returncode != 0
        assert named in done.stdout + done.stderr, done.stdout + done.stderr


# --- the settings the operator reads ----------------------------------------------------------------

def operator_config(objects: list[dict], tmp_path: Path):
    """What `modelfleet run` reads in the pod: the mounted settings file and the container's env."""
    config_map = by_kind(objects, "ConfigMap")
    container = operator_container(objects)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "settings")
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    settings_path = Path(env["MODELFLEET_SETTINGS"])
    assert settings_path.parent == Path(mount["mountPath"])
    local = tmp_path / settings_path.name
    local.write_text(config_map["data"][settings_path.name])
    return load_process_config({**env, "MODELFLEET_SETTINGS": str(local)})


def test_settings_values_reach_the_operator_as_given(helm, tmp_path):
    config = operator_config(render(helm, tmp_path, {**EVERY_SETTING, "resyncSeconds": 15}), tmp_path)
    assert config.settings == OperatorSettings.model_validate(EVERY_SETTING)
    assert config.resync_seconds == 15


def test_default_values_give_the_operator_its_own_defaults(helm, tmp_path):
    config = operator_config(render(helm, tmp_path), tmp_path)
    assert config.settings == OperatorSettings()
    assert config.resync_seconds == 60


def test_values_yaml_holds_exactly_the_settings_and_the_chart_keys():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    settings_keys = {f.alias for f in OperatorSettings.model_fields.values()}
    assert settings_keys <= values.keys()
    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    assert values.keys() == schema["properties"].keys()


def test_a_settings_change_restarts_the_operator(helm, tmp_path):
    def checksum(values):
        deployment = by_kind(render(helm, tmp_path, values), "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]

    assert checksum(None) == checksum({"resyncSeconds": 30})  # not a setting: the env changes instead
    assert checksum(None) != checksum({"gpuPrices": {"NVIDIA-L4": 0.5}})


def test_namespaces_and_the_hub_token_reach_the_container(helm, tmp_path):
    container = operator_container(render(helm, tmp_path, EVERYTHING_ON))
    assert "--namespace=llm" in container["args"] and "--namespace=llm-staging" in container["args"]
    hf_token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
    assert hf_token["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token"}
    source = next(e for e in container["env"] if e["name"] == "MODELFLEET_HUB_TOKEN_SECRET")
    assert source["value"] == "modelfleet-system/hf-token (key token)"  # named when the Hub refuses the token
    defaults = operator_container(render(helm, tmp_path))
    assert not any(a.startswith("--namespace") for a in defaults["args"])
    assert "HF_TOKEN" not in {e["name"] for e in defaults["env"]}


# --- the objects ----------------------------------------------------------------------------------------

def test_the_operator_runs_once_restricted_and_watched(helm, tmp_path):
    objects = render(helm, tmp_path)
    deployment = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two operators at once
    pod = deployment["spec"]["template"]["spec"]
    container = operator_container(objects)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # Pod Security Standard "restricted".
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["serviceAccountName"] == by_kind(objects, "ServiceAccount")["metadata"]["name"]


def test_the_crd_survives_helm_uninstall_and_argo_cd_pruning(helm, tmp_path):
    annotations = by_kind(render(helm, tmp_path), "CustomResourceDefinition")["metadata"]["annotations"]
    assert annotations["helm.sh/resource-policy"] == "keep"
    assert set(annotations["argocd.argoproj.io/sync-options"].split(",")) == {"Prune=false", "Delete=false"}
    objects = render(helm, tmp_path, {"crds": {"enabled": False}})
    assert not [o for o in objects if o["kind"] == "CustomResourceDefinition"]


def operator_role(objects: list[dict]) -> dict:
    """The ClusterRole the chart binds to the operator (the other, if any, is the unbound hub-token reader)."""
    (role,) = [o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "modelfleet"]
    return role


def test_rbac_grants_no_wildcards_and_never_writes_the_users_spec(helm, tmp_path):
    objects = render(helm, tmp_path)
    for role in (o for o in objects if o["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    rules = operator_role(objects)["rules"]
    llmd_verbs = {v for r in rules if "llmdeployments" in r["resources"] for v in r["verbs"]}
    assert llmd_verbs == {"get", "list", "watch"}
    assert {v for r in rules if "llmdeployments/status" in r["resources"] for v in r["verbs"]} == {"patch"}
    binding = by_kind(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "modelfleet"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "modelfleet", "namespace": NAMESPACE}]


CLUSTER_SCOPED = {"nodes", "namespaces", "customresourcedefinitions"}
WRITE_VERBS = {"create", "patch", "update", "delete", "deletecollection"}


def resources_of(rules: list[dict]) -> set[str]:
    return {resource for rule in rules for resource in rule["resources"]}


@pytest.mark.parametrize("watch", [[], ["llm"]], ids=["cluster-wide", "watch-namespaces"])
def test_by_default_the_operator_reads_secrets_only_where_a_namespace_binds_the_reader(helm, tmp_path, watch):
    objects = render(helm, tmp_path, {"watchNamespaces": watch})
    granted = [o for o in objects if o["kind"] in ("ClusterRole", "Role") and o["metadata"]["name"] == "modelfleet"]
    assert granted and all("secrets" not in resources_of(o["rules"]) for o in granted)
    reader = next(o for o in objects if o["metadata"]["name"] == "modelfleet-hub-token-reader")
    assert reader["kind"] == "ClusterRole"
    assert reader["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    # The chart binds it nowhere: a namespace's admin does, in that namespace only.
    bindings = [o for o in objects if o["kind"].endswith("Binding")]
    assert reader["metadata"]["name"] not in {b["roleRef"]["name"] for b in bindings}
    # The operator names that ClusterRole and itself in the RoleBinding command its status gives.
    env = {e["name"]: e.get("value") for e in operator_container(objects)["env"]}
    assert env["MODELFLEET_TOKEN_READER_ROLE"] == "modelfleet-hub-token-reader"
    assert env["MODELFLEET_SERVICE_ACCOUNT"] == f"{NAMESPACE}:modelfleet"


@pytest.mark.parametrize("watch", [[], ["llm"]], ids=["cluster-wide", "watch-namespaces"])
def test_token_secret_access_managed_namespaces_reads_secrets_wherever_the_operator_manages(helm, tmp_path, watch):
    objects = render(helm, tmp_path, {"watchNamespaces": watch, "tokenSecretAccess": "managedNamespaces"})
    assert "modelfleet-hub-token-reader" not in {o["metadata"]["name"] for o in objects}
    (granting,) = [o for o in objects if "secrets" in resources_of(o.get("rules", []))]
    assert granting["kind"] == ("Role" if watch else "ClusterRole")
    assert [r for r in granting["rules"] if "secrets" in r["resources"]] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]


def test_with_watch_namespaces_the_operator_may_write_only_in_them(helm, tmp_path):
    objects = render(helm, tmp_path, {"watchNamespaces": ["llm", "llm-staging"]})
    cluster_role = operator_role(objects)
    # Cluster-wide: only what belongs to no namespace, and only read.
    assert resources_of(cluster_role["rules"]) == CLUSTER_SCOPED
    assert not {v for rule in cluster_role["rules"] for v in rule["verbs"]} & WRITE_VERBS
    roles = [o for o in objects if o["kind"] == "Role"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert sorted(o["metadata"]["namespace"] for o in roles) == ["llm", "llm-staging"]
    assert sorted(o["metadata"]["namespace"] for o in bindings) == ["llm", "llm-staging"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "modelfleet"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "modelfleet", "namespace": NAMESPACE}]
    # The same grants as the all-namespaces ClusterRole, split by scope: nothing lost, nothing added.
    everywhere = operator_role(render(helm, tmp_path))["rules"]
    for role in roles:
        assert role["rules"] + cluster_role["rules"] == sorted(
            everywhere, key=lambda r: resources_of([r]) <= CLUSTER_SCOPED)
        assert "deployments" in resources_of(role["rules"]) and not resources_of(role["rules"]) & CLUSTER_SCOPED


def test_without_watch_namespaces_one_cluster_role_is_bound_cluster_wide(helm, tmp_path):
    objects = render(helm, tmp_path)
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")]
    rules = operator_role(objects)["rules"]
    assert {"llmdeployments", "deployments", "daemonsets", "events"} | CLUSTER_SCOPED <= resources_of(rules)


def test_every_rbac_rule_says_why():
    lines = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert rules
    for i in rules:
        above = lines[i - 1].strip()
        # A rule is explained by the comment above it, or continues the group above it.
        assert above.startswith(("#", "verbs:")), lines[i]


def test_the_service_monitor_is_optional_and_scrapes_the_metrics_service(helm, tmp_path):
    assert "ServiceMonitor" not in {o["kind"] for o in render(helm, tmp_path)}
    objects = render(helm, tmp_path, EVERYTHING_ON)
    monitor = by_kind(objects, "ServiceMonitor")
    service = by_kind(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    pod_labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in operator_container(objects)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports



def test_docs_list_every_value():
    table = (ROOT / "docs" / "install.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [key for key in values if f"`{key}" not in table] == []


# --- where the operator pod runs on the local cluster -----------------------------------------------
# kwok's fake nodes (label type=kwok) bind pods that show Running and run nothing: an operator there never
# reconciles and has no logs. The chart's default affinity keeps it off them, so a plain `helm install` on
# the local cluster lands on its real node; the tiers that run the operator as a process send the chart's
# pod to a kwok node on purpose (e2e/local/values-idle-operator.yaml). The nodes are the local cluster's
# layout (e2e/local/nodes.yaml, rendered by localcluster); the filter is the scheduler's for what the chart
# sets: nodeSelector, required node affinity, NoSchedule and NoExecute taints. That it really lands there:
# e2e/suite/test_local_cluster_docs.py.


def local_cluster_nodes() -> list[dict]:
    """The kwok pools' Node objects and the real node's labels and taints, as cluster-up registers them."""
    layout = nodes.load_layout()
    real = node.spec()
    real_node = {"metadata": {"name": REAL_NODE, "labels": node.labels(real)},
                 "spec": {"taints": real.get("taints", [])}}
    return [*nodes.render(layout), real_node]


def matches(expression: dict, labels: dict[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":  # as the scheduler reads it: a node without the label matches
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise AssertionError(f"operator {operator} is not handled here")


def tolerated(taint: dict, tolerations: list[dict]) -> bool:
    return any((not t.get("key") and t.get("operator") == "Exists" or t.get("key") == taint["key"])
               and (t.get("operator") == "Exists" or t.get("value") == taint.get("value"))
               and t.get("effect") in (None, "", taint["effect"]) for t in tolerations)


def feasible(pod_spec: dict, candidate: dict) -> bool:
    labels = candidate["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required and not any(all(matches(e, labels) for e in term.get("matchExpressions", []))
                            for term in required["nodeSelectorTerms"]):
        return False
    # PreferNoSchedule only weighs in the score: it never makes a node infeasible.
    return all(tolerated(t, pod_spec.get("tolerations") or []) for t in candidate["spec"].get("taints", [])
               if t["effect"] in ("NoSchedule", "NoExecute"))


def operator_nodes(helm_path: Path, tmp_path: Path, *values_files: str) -> list[str]:
    args = [arg for f in values_files for arg in ("-f", f)]
    deployment = by_kind(render(helm_path, tmp_path, None, *args), "Deployment")
    pod_spec = deployment["spec"]["template"]["spec"]
    return sorted(n["metadata"]["name"] for n in local_cluster_nodes() if feasible(pod_spec, n))


def test_the_layout_marks_every_fake_node_and_only_them_as_kwok():
    kinds = {n["metadata"]["name"]: n["metadata"]["labels"].get("type") for n in local_cluster_nodes()}
    assert kinds.pop(REAL_NODE) is None
    assert set(kinds.values()) == {"kwok"}


def test_the_default_install_can_run_the_operator_on_the_real_node_only(helm, tmp_path):
    assert operator_nodes(helm, tmp_path) == [REAL_NODE]


def test_the_local_values_run_it_on_the_real_node(helm, tmp_path):
    assert operator_nodes(helm, tmp_path, str(LOCAL_VALUES)) == [REAL_NODE]


def test_the_idle_values_send_it_to_the_untainted_kwok_node(helm, tmp_path):
    flag, path = IDLE_CHART_OPERATOR
    assert flag == "-f"
    assert operator_nodes(helm, tmp_path, path) == ["cpu-0"]


def test_the_default_affinity_selects_every_node_without_the_kwok_label(helm, tmp_path):
    """On a user's cluster (no kwok node) the default rule excludes nothing."""
    pod_spec = by_kind(render(helm, tmp_path), "Deployment")["spec"]["template"]["spec"]
    plain = {"metadata": {"name": "worker", "labels": {"kubernetes.io/os": "linux", "type": "worker"}},
             "spec": {"taints": []}}
    unlabelled = {"metadata": {"name": "bare", "labels": {}}, "spec": {"taints": []}}
    assert feasible(pod_spec, plain) and feasible(pod_spec, unlabelled)


@pytest.mark.parametrize("override, expected", [
    # A user's own required node affinity replaces the default's terms (Helm replaces lists).
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "modelfleet.io/pool", "operator": "In", "values": ["cpu"]}]}]}}}},
     ["cpu-0"]),
    # Any other affinity of theirs is merged with it: the default still holds.
    ({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                          "labelSelector": {"matchLabels": {"app": "x"}}}}]}}},
     [REAL_NODE]),
    # Dropped (Helm deletes a key set to null), the operator may land on any untainted node, kwok's included.
    ({"affinity": {"nodeAffinity": None}}, ["cpu-0", REAL_NODE]),
], ids=["own-required-affinity", "other-affinity-merged", "node-affinity-null"])
def test_a_users_affinity_and_the_default(helm, tmp_path, override, expected):
    values = tmp_path / "override.yaml"
    values.write_text(yaml.safe_dump(override))
    assert operator_nodes(helm, tmp_path, str(values)) == expected


# --- where the router pods run on the local cluster ---------------------------------------------------------
# Their placement is the operator's router setting: the real node where the chart's operator runs there
# (e2e/local/values.yaml), kwok's idle cpu node where the operator runs as a process (the real node's 2 cores
# are the engines').


def router_nodes(settings: OperatorSettings) -> list[str]:
    pod_spec = router_pod_spec(example("mistral-7b-vllm"), settings)
    return sorted(n["metadata"]["name"] for n in local_cluster_nodes() if feasible(pod_spec, n))


def test_the_local_values_run_the_routers_on_the_real_node(helm, tmp_path):
    args = ("-f", str(LOCAL_VALUES))
    assert router_nodes(operator_config(render(helm, tmp_path, None, *args), tmp_path).settings) == [REAL_NODE]


def test_the_process_operators_routers_go_to_the_idle_kwok_node():
    assert router_nodes(OperatorSettings.model_validate(PROCESS_SETTINGS)) == ["cpu-0"]


def test_by_default_routers_stay_off_the_gpu_nodes():
    assert router_nodes(OperatorSettings()) == ["cpu-0", REAL_NODE]  # the real node's GPU taint is only preferred
