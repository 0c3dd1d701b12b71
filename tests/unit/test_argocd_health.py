"""The Argo CD health check of LLMDeployment, run the way Argo CD runs it.

Argo CD (gopher-lua, Lua 5.1) binds the object as the global ``obj`` and
takes the table the script returns; it opens only the base, table, package
and a trimmed os library, so a script that calls ``string.*`` works in
``argocd admin`` tests but fails in a real argocd-cm. Here: Lua 5.1 through
lupa with the same globals, and the cases of ``health_test.yaml`` in Argo CD's
own layout (resource_customizations/<group>/<kind>/).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import lupa.lua51 as lua51
import pytest
import yaml
from hypothesis import given, settings, strategies as st

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "argocd" / "resource_customizations" / "modelfleet.io" / "LLMDeployment"
SCRIPT = (CHECK_DIR / "health.lua").read_text()
CASES = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]
# gitops-engine's HealthStatusCode values; anything else Argo CD shows as Unknown.
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
ARGOCD_CM_KEY = "resource.customizations.health.modelfleet.io_LLMDeployment"


def argocd_health(obj: dict) -> dict:
    runtime = lua51.LuaRuntime()
    # Only what Argo CD opens for an argocd-cm script; string methods go with the string library.
    runtime.execute("string, math, io, debug, coroutine, os = nil; getmetatable('').__index = nil")
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(SCRIPT)
    return dict(result.items())


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_of_each_case(case):
    obj = yaml.safe_load((CHECK_DIR / case["inputPath"]).read_text())
    health = argocd_health(obj)
    assert health["status"] in ARGO_STATUSES
    assert health == case["healthStatus"]


def test_every_testdata_file_is_a_case():
    listed = {Path(c["inputPath"]).name for c in CASES}
    assert listed == {p.name for p in (CHECK_DIR / "testdata").glob("*.yaml")}


def test_the_cases_include_each_outcome_and_the_edges():
    statuses = {Path(c["inputPath"]).stem: c["healthStatus"]["status"] for c in CASES}
    assert {statuses["healthy"], statuses["degraded"], statuses["progressing"]} == {"Healthy", "Degraded",
                                                                                   "Progressing"}
    assert statuses["no_status"] == statuses["stale_generation"] == statuses["deleting"] == "Progressing"


def test_the_script_uses_no_library_argo_cd_leaves_out():
    code = "\n".join(line.split("--", 1)[0] for line in SCRIPT.splitlines())
    assert not re.search(r"\b(string|math|io|debug|coroutine)\.", code)
    assert not re.search(r":\s*(sub|find|match|gsub|format|lower|upper)\s*\(", code)


def test_the_argocd_cm_snippet_in_the_docs_is_the_script():
    doc = (ROOT / "docs" / "gitops.md").read_text()
    match = re.search(rf"^( *){re.escape(ARGOCD_CM_KEY)}: \|\n((?:\1  .*\n|\n)+)", doc, re.MULTILINE)
    assert match, f"docs/gitops.md has no {ARGOCD_CM_KEY} block"
    assert textwrap.dedent(match.group(2)).strip() == SCRIPT.strip()


@pytest.mark.parametrize("path", sorted((CHECK_DIR / "testdata").glob("*.yaml")), ids=lambda p: p.name)
def test_every_testdata_status_is_one_the_operator_writes(path):
    """The cases are statuses the operator could write: they parse as the typed status, so they follow it."""
    from modelfleet.api import LLMDeploymentStatus

    LLMDeploymentStatus.model_validate(yaml.safe_load(path.read_text()).get("status") or {})


# --- the table's Health and Reason columns say what Argo CD says ----------------------------------------------

REASONS = ["AllReplicasReady", "ReplicasNotReady", "PodsCannotRun", "ScaledToZero", "Idle", "Waking", "NotDeployed",
           "RollingOut", "Complete", "Blocked", "AsExpected", "ModelNotFound", "ReplicaFailure"]


def a_condition(kind):
    # The operator always writes a message (the script has fallbacks for conditions without one).
    return st.builds(lambda status, reason, message: {
        "type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-12-01T06:00:00Z", "observedGeneration": 3,
    }, st.sampled_from(["True", "False"]), st.sampled_from(REASONS),
        st.sampled_from(["what happened", "what to change"]))


CONDITION_SETS = st.tuples(*(st.none() | a_condition(kind) for kind in ("Ready", "Progressing", "Degraded")))


@settings(max_examples=300, deadline=None)
@given(CONDITION_SETS)
def test_the_health_column_is_what_argo_cd_says(found):
    from modelfleet.api import Condition
    from modelfleet.controller.decide.health import summarize

    conditions = [c for c in found if c is not None]
    summary = summarize([Condition.model_validate(c) for c in conditions])
    obj = {"metadata": {"name": "m", "generation": 3},
           "status": {"observedGeneration": 3, "conditions": conditions}}
    argo = argocd_health(obj)
    assert argo["status"] == summary.health
    if summary.condition is not None:  # Argo CD's message is the message of the condition Reason names
        assert argo["message"] == summary.condition.message
