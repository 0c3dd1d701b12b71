"""`make demo`'s live part, when a step fails: it names the step and prints the failing
LLMDeployment's conditions and the events of it and its pods (scripts/demo_cluster.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "e2e" / "local"))
    spec = importlib.util.spec_from_file_location("demo_cluster", ROOT / "scripts" / "demo_cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.time, "sleep", lambda s: None)
    return module


REFUSED = {"status": {"conditions": [
    {"type": "Ready", "status": "False", "reason": "NotServing", "message": "no replica is serving"},
    {"type": "Degraded", "status": "True", "reason": "TokenSecretInvalid",
     "message": "Secret llm/hf-token must carry the label modelfleet.io/hub-token=true"},
]}}
EVENTS = {"items": [
    {"type": "Warning", "reason": "TokenSecretInvalid", "lastTimestamp": "2026-12-05T10:00:02Z",
     "involvedObject": {"kind": "LLMDeployment", "name": "mixtral-8x22b"}, "message": "refused: no opt-in label"},
    {"type": "Warning", "reason": "FailedScheduling", "lastTimestamp": "2026-12-05T10:00:01Z",
     "involvedObject": {"kind": "Pod", "name": "mixtral-8x22b-7d9f-abcde"}, "message": "0/8 nodes are available"},
    {"type": "Normal", "reason": "Planned", "lastTimestamp": "2026-12-05T10:00:00Z",
     "involvedObject": {"kind": "LLMDeployment", "name": "mistral-7b"}, "message": "someone else's"},
]}


def fake_kubectl(responses):
    def kubectl(*args, **kwargs):
        return json.dumps(responses[args[1]])
    return kubectl


def test_a_step_past_its_time_names_the_objects_that_failed(demo):
    with pytest.raises(demo.StepFailed) as failed:
        demo.wait_until(lambda: False, 0, "not every example was Ready after 0 s", lambda: ["mixtral-8x22b"])
    assert str(failed.value) == "not every example was Ready after 0 s"
    assert failed.value.objects == ["mixtral-8x22b"]


def test_the_report_shows_conditions_then_its_own_and_its_pods_events_in_order(demo, monkeypatch):
    monkeypatch.setattr(demo, "kubectl", fake_kubectl({"llmd": REFUSED, "events": EVENTS}))
    report = demo.why_not_ready("mixtral-8x22b").splitlines()
    assert report == [
        "--- LLMDeployment llm/mixtral-8x22b: conditions",
        "  Ready=False NotServing: no replica is serving",
        "  Degraded=True TokenSecretInvalid: Secret llm/hf-token must carry the label modelfleet.io/hub-token=true",
        "--- events of mixtral-8x22b and its pods",
        "  Warning FailedScheduling Pod/mixtral-8x22b-7d9f-abcde: 0/8 nodes are available",
        "  Warning TokenSecretInvalid LLMDeployment/mixtral-8x22b: refused: no opt-in label",
    ]


def test_main_says_which_step_failed_and_exits_1(demo, monkeypatch, capsys):
    monkeypatch.setattr(demo, "kubectl", fake_kubectl({"llmd": REFUSED, "events": EVENTS}))

    def failing_fleet():
        demo.step("10. Wait until every LLMDeployment is Ready")
        raise demo.StepFailed("not every example was Ready after 180 s", ["mixtral-8x22b"])

    monkeypatch.setattr(demo, "hub_on_the_bridge", lambda: _nothing())
    monkeypatch.setattr(demo, "install_operator", lambda: None)
    monkeypatch.setattr(demo, "show_kwok_fleet", failing_fleet)
    assert demo.main() == 1
    out = capsys.readouterr().out
    assert "make demo failed at step 10. Wait until every LLMDeployment is Ready" in out
    assert "Degraded=True TokenSecretInvalid" in out and "FailedScheduling" in out


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False

