"""The InferencePool on a real API server, with the Gateway API Inference Extension's own CRDs.

The CRDs are the pinned release's (e2e/local/gomod/inference-extension),
fetched from its Go module by ``localcluster.inference_extension`` (cached;
the first run downloads them). The operator runs as the chart's
ServiceAccount and asks discovery every second here
(``MODELFLEET_DISCOVERY_SECONDS``), so each test sees it pick up CRDs
installed or removed while it runs, with no restart. Each test sets the CRDs
up as it needs them and the module removes them at the end: the other tests
of the session run on a cluster without them.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml

from localcluster import inference_extension
from modelfleet.api import OperatorSettings
from modelfleet.render import render_all
from support.operator_process import start_operator
from support.render_cases import EXAMPLES, example, example_plan
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

CRD_NAME = "inferencepools.inference.networking.k8s.io"
TIMEOUT = 60
NO_LONGER_SERVED = "the API server no longer serves InferencePools"  # controller/discovery.py's log line
WATCH_STARTED = "Starting the watch-stream for inferencepools.v1.inference.networking.k8s.io"  # kopf's debug log


@pytest.fixture(scope="module")
def crd_files(cluster):
    files = inference_extension.crd_files()
    yield files
    remove_crds(cluster, files)


@pytest.fixture(scope="module")
def operator(cluster, chart_release, tmp_path_factory, crd_files):  # the name conftest's failure report reads
    remove_crds(cluster, crd_files)
    process = start_operator(cluster, tmp_path_factory.mktemp("operator"), MODELFLEET_DISCOVERY_SECONDS="1")
    yield process
    process.stop()


def install_crds(cluster, files) -> None:
    for path in files:
        cluster.kubectl("apply", "--server-side", "-f", str(path))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")


def remove_crds(cluster, files) -> None:
    for path in files:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=true", "-f", str(path))


def served(cluster) -> bool:
    found = cluster.kubectl("get", "--raw", "/apis/inference.networking.k8s.io/v1", check=False)
    return found.returncode == 0 and any(r["name"] == "inferencepools" for r in json.loads(found.stdout)["resources"])


def get_json(cluster, *args: str) -> dict | None:
    found = cluster.kubectl("get", *args, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def apply_llmd(cluster, namespace: str) -> dict:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(small_mistral(replicas=1)))
    return wait_for("the Deployment", lambda: get_json(cluster, "deployment", "mistral", "-n", namespace), TIMEOUT)


def healthy(operator, cluster, namespace: str) -> None:
    """/healthz answers 200, the LLMDeployment is not Degraded, and the operator logged no failure."""
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.liveness_port}/healthz", timeout=5) as answer:
        assert answer.status == 200
    llmd = get_json(cluster, "llmd", "mistral", "-n", namespace)
    degraded = next(c for c in llmd["status"]["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("False", "AsExpected"), degraded
    log = operator.log.read_text(errors="replace")
    assert "Traceback" not in log and "failed; retrying" not in log, operator.tail(60)


def test_without_the_crds_there_is_no_pool_and_no_error(cluster, namespace, operator, crd_files):
    assert not served(cluster)
    apply_llmd(cluster, namespace)
    before = operator.reconciles()
    wait_for("a reconcile after the first", lambda: operator.reconciles() > before + 1, TIMEOUT)
    healthy(operator, cluster, namespace)


def test_crds_installed_later_give_the_running_fleet_its_pool(cluster, namespace, operator, crd_files):
    deployment = apply_llmd(cluster, namespace)
    install_crds(cluster, crd_files)
    pool = wait_for("the InferencePool", lambda: get_json(cluster, "inferencepool", "mistral", "-n", namespace),
                    TIMEOUT)
    llmd_uid = get_json(cluster, "llmd", "mistral", "-n", namespace)["metadata"]["uid"]
    (owner,) = pool["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "LLMDeployment", "mistral", llmd_uid, True)
    spec = pool["spec"]
    assert spec["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    engine = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "engine")
    assert spec["targetPorts"] == [{"number": engine["ports"][0]["containerPort"]}]
    # The API server's own defaults, from the CRD's schema: it stored the object as the extension defines it.
    assert spec["appProtocol"] == "http"
    assert spec["endpointPickerRef"] == {"group": "", "kind": "Service", "name": "mistral-epp",
                                         "port": {"number": 9002}, "failureMode": "FailOpen"}
    # The pool's watch starts (kopf rescans the group when discovery sees it: kopf_resources.py).
    wait_for("kopf's watch of pools", lambda: WATCH_STARTED in operator.log.read_text(errors="replace"), TIMEOUT)
    # With the watch on, a pool deleted by hand comes back (before the rescan it stayed gone until a restart).
    cluster.kubectl("delete", "inferencepool", "mistral", "-n", namespace, "--wait=true")

    def recreated() -> bool:
        again = get_json(cluster, "inferencepool", "mistral", "-n", namespace)
        return again is not None and again["metadata"]["uid"] != pool["metadata"]["uid"]
    wait_for("the deleted InferencePool back", recreated, TIMEOUT)
    healthy(operator, cluster, namespace)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_examples_pool_is_accepted_with_strict_field_validation(cluster, namespace, crd_files, name):
    install_crds(cluster, crd_files)
    (pool,) = [o for o in render_all(example(name, namespace=namespace), example_plan(name), OperatorSettings(),
                                     inference_pools_served=True) if o["kind"] == "InferencePool"]
    created = cluster.kubectl("create", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-",
                              input=yaml.safe_dump(pool))
    assert json.loads(created.stdout)["spec"]["selector"] == pool["spec"]["selector"]


def test_crds_removed_under_a_running_fleet_are_no_error(cluster, namespace, operator, crd_files):
    install_crds(cluster, crd_files)
    apply_llmd(cluster, namespace)
    wait_for("the InferencePool", lambda: get_json(cluster, "inferencepool", "mistral", "-n", namespace), TIMEOUT)
    remove_crds(cluster, crd_files)
    wait_for("discovery to see the CRDs gone", lambda: NO_LONGER_SERVED in operator.log.read_text(errors="replace"),
             TIMEOUT)
    before = operator.reconciles()
    # Reconciles after that (the change queued every LLMDeployment; a resync every 2 s): none renders the pool.
    wait_for("two reconciles after the CRDs went", lambda: operator.reconciles() > before + 1, TIMEOUT)
    healthy(operator, cluster, namespace)
