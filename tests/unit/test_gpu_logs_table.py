"""benchmarks/sizing/gpu-logs.md is what its script makes of cases.yaml with today's rules (issue 25)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sizing" / "gpu_logs_table.py"


def table_module():
    spec = importlib.util.spec_from_file_location("gpu_logs_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_case_says_how_it_is_predicted_or_why_not_and_cites_its_log():
    data = yaml.safe_load((ROOT / "benchmarks" / "sizing" / "gpu-logs" / "cases.yaml").read_text())
    for case in data["cases"]:
        assert case["url"].startswith("https://"), case["id"]
        prediction = case["prediction"]
        assert ("why_not" in prediction) != ("model" in prediction), case["id"]
        if "model" in prediction:
            assert data["models"][prediction["model"]]["url"].startswith("https://huggingface.co/")


def test_the_committed_table_is_the_scripts_output():
    """Run `make bench-gpu-logs` after a change to the rules or the cases."""
    module = table_module()
    data = yaml.safe_load(module.CASES.read_text())
    committed = (ROOT / "benchmarks" / "sizing" / "gpu-logs.md").read_text()
    assert module.render(data["cases"], data["models"]) == committed


def test_the_must_show_is_judged_as_issue_25_words_it():
    module = table_module()
    pair = module.Pair
    case = {"id": "x", "url": "https://example.org", "prediction": {}}

    def row(predicted, logged):
        empty = pair(None, None)
        return module.Row(case, empty, pair(predicted, logged), empty, empty, None, "")

    assert module.must_show([row(10.1, 10.0), row(9.9, 10.0), row(20.0, 20.1)]) == [
        "- KV GiB median error 1.0%: met (≤ 2 %)",
        "- every case within 5 % or 0.3 GiB: met",
        "- none over-predicted by more than 2 %: met",
    ]
    judged = module.must_show([row(10.3, 10.0), row(4.0, 5.0), row(10.0, 10.0)])
    assert judged[0] == "- KV GiB median error 3.0%: NOT met (≤ 2 %)"
    assert judged[1] == "- every case within 5 % or 0.3 GiB: NOT met: x"  # 1 GiB and 20 % short
    assert judged[2] == "- none over-predicted by more than 2 %: NOT met: x"
    assert module.must_show([])[0].startswith("**Not checkable on public data: 0 cases.**")
