"""The local cluster as its docs say: docs/local-cluster.md run as written, and the chart's default install.

The page's ```sh blocks are extracted and run in order, as one bash script (``set -euo pipefail``),
from the repository's root: a page that stops working fails here. Blocks fenced otherwise (```yaml,
```text) are not run. Both tests leave the chart as the suite installs it,
whatever the page or the default install did to it (the ``reinstall_chart`` fixture).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localcluster import images, settings as local_settings
from support.operator_process import OPERATOR_NAMESPACE, RELEASE, install_chart
from support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.controlplane, pytest.mark.realnode]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "local-cluster.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)
DOC_NAMESPACE = "llm-local"  # the page's
# The page's run: cluster-up (warm), the chart, the Hub, the engine image (built the first time), one vLLM start.
RECIPE_TIMEOUT = 3600


def shell_blocks(markdown: str) -> list[str]:
    return SH_BLOCK.findall(markdown)


def test_the_page_has_its_steps_in_sh_blocks_in_order():
    """What the recipe test runs: every step, the cluster first and the clean-up last."""
    blocks = shell_blocks(DOC.read_text())
    firsts = [block.splitlines()[0] for block in blocks]
    assert firsts[0] == "make cluster-up"
    assert [i for i, block in enumerate(blocks) if "local_hub.py start" in block] == [2]
    assert "curl" in blocks[-2] and "local_hub.py stop" in blocks[-1]
    # The tag the page names is the one the engine-image step prints today.
    assert images.engine_image() in DOC.read_text()


def run_script(script: str, log: Path, timeout: float) -> int:
    """``script`` in bash from the repository's root, in its own process group (killed whole on timeout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # make's own, when `make test` runs us
    env.pop("KUBECONFIG", None)  # the page sets it
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -1


def test_serving_a_model_on_the_local_cluster_runs_as_written(target, chart, reinstall_chart, tmp_path):
    if target.is_kind:
        pytest.fail("docs/local-cluster.md is the local cluster's page; it does not run on kind", pytrace=False)
    script = "set -euo pipefail\nset -x\n" + "\n".join(shell_blocks(DOC.read_text()))
    log = tmp_path / "recipe.log"
    started = time.monotonic()
    try:
        returncode = run_script(script, log, RECIPE_TIMEOUT)
        output = log.read_text(errors="replace")
        assert returncode == 0, f"the page's script failed ({returncode}) after {time.monotonic() - started:.0f} s:\n" \
                                f"{output[-6000:]}"
    finally:
        # Whatever step failed: no Hub left on the bridge's port (the real-node tests serve theirs there),
        # no model left on the real node, the chart as the suite has it.
        subprocess.run([sys.executable, str(ROOT / "scripts" / "local_hub.py"), "stop"], capture_output=True,
                       timeout=60)
        target.kubectl("delete", "namespace", DOC_NAMESPACE, "--ignore-not-found", "--wait=true", timeout=300,
                       check=False)
        reinstall_chart()
    completion = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    assert completion["object"] == "text_completion" and completion["model"] == "acme/tiny-mixtral"
    assert completion["usage"]["completion_tokens"] >= 1
    print(f"docs/local-cluster.md ran in {time.monotonic() - started:.0f} s")


def operator_pods(target) -> list[dict]:
    pods = json.loads(target.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-l",
                                     "app.kubernetes.io/name=modelfleet", "-o", "json").stdout)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def test_the_default_install_runs_the_operator_on_the_real_node(target, chart, reinstall_chart):
    """`helm install` with no values (docs/install.md): the operator lands on the node that runs pods, is Ready,
    and has logs; before the chart kept it off kwok nodes, it landed on one, showed Running and did nothing."""
    if target.is_kind:
        pytest.fail("the kwok placement is the local cluster's", pytrace=False)
    try:
        install_chart(target.binary("helm"), target.kubeconfig, "--kube-context", target.context)
        target.kubectl("rollout", "status", f"deployment/{RELEASE}", "-n", OPERATOR_NAMESPACE, "--timeout=180s",
                       timeout=200)
        (pod,) = operator_pods(target)
        assert pod["spec"]["nodeName"] == local_settings.REAL_NODE_NAME
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        # On a kwok node `kubectl logs` fails (no kubelet serves it). A real one answers at once, maybe before the
        # operator has written its first line: wait for that line.
        def logs() -> str:
            answer = target.kubectl("logs", pod["metadata"]["name"], "-n", OPERATOR_NAMESPACE, check=False)
            assert answer.returncode == 0, answer.stderr
            return answer.stdout.strip()
        wait_for("the operator's first log lines", logs, 60)
    finally:
        reinstall_chart()
