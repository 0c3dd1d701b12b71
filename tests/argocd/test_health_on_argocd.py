"""The cases of health_test.yaml on Argo CD's own Lua evaluation.

``argocd/gotest`` is a Go module that imports Argo CD's ``util/lua`` (the
release its go.mod pins, gopher-lua inside) and evaluates ``health.lua`` on
every case three ways: as Argo CD's own ``TestLuaHealthScript`` does, as the
controller runs an argocd-cm customization (``ResourceHealthOverrides``, no
open libraries, integers as the API server gives them), and through
gitops-engine's ``GetResourceHealth`` (see its package comment). Here: build
it (cached under $MODELFLEET_CACHE/go; 7 to 17 min the first time) and run it
once, then one test per mode and case. No Go, no build, no run: the tests
fail, they do not skip. tests/unit/test_argocd_health.py runs the same cases
through lupa, without Go.

A tier of its own (this directory, marker ``argocd``), so that the unit tier
builds nothing in Go: ``make test`` runs it with every other tier, ``make
argocd`` alone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "argocd" / "gotest"
CHECK_DIR = ROOT / "argocd" / "resource_customizations" / "modelfleet.io" / "LLMDeployment"
CASES = [c["inputPath"] for c in yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]]
MODES = ["TestLuaHealthScript", "TestArgocdCM", "TestController"]
# A cold build compiles Argo CD's dependencies (Kubernetes libraries, gRPC) on
# two shared cores.
BUILD_TIMEOUT_S = 45 * 60

pytestmark = pytest.mark.argocd


class GoRun:
    """One `go test -json` run: each Go test's and subtest's last action (pass, fail, skip) and output."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.results: dict[str, str] = {}
        self.outputs: dict[str, list[str]] = {}
        lines: list[str] = []
        for line in proc.stdout.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                lines.append(line)
                continue
            test, text = event.get("Test"), event.get("Output")
            if text:
                lines.append(text.rstrip("\n"))
                if test:
                    self.outputs.setdefault(test, []).append(text.rstrip("\n"))
            if test and event.get("Action") in ("pass", "fail", "skip"):
                self.results[test] = event["Action"]
        self.log = "\n".join(lines[-80:] + proc.stderr.splitlines()[-40:])


@pytest.fixture(scope="module")
def go_run() -> GoRun:
    try:
        proc = subprocess.run(["bash", str(HARNESS / "run.sh"), "-json"], capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"argocd/gotest/run.sh did not finish in {BUILD_TIMEOUT_S} s: {e.stderr!r}")
    run = GoRun(proc)
    # No Go, a module that does not build: nothing ran, every test here fails with the reason.
    assert run.results, f"argocd/gotest/run.sh exited {run.returncode} and ran no test:\n{run.log}"
    return run


@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_case_passes_on_argo_cds_lua(go_run, mode, case):
    name = f"{mode}/{case}"
    assert go_run.results.get(name) == "pass", "\n".join(go_run.outputs.get(name, [go_run.log]))


@pytest.mark.timeout(BUILD_TIMEOUT_S + 60)
def test_go_ran_exactly_the_cases_and_passed(go_run):
    # Every subtest is a case of health_test.yaml in one mode, none skipped or extra.
    expected = set(MODES) | {f"{m}/{c}" for m in MODES for c in CASES}
    assert set(go_run.results) == expected
    assert go_run.returncode == 0, go_run.log
