"""What `make demo`'s live part (scripts/demo_cluster.py) prints: when a step fails, the step's name and the
failing LLMDeployment's conditions and the events of it and its pods; on the real node, the cold start by phase."""

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


def test_the_cold_start_step_prints_every_phase_in_order_and_names_what_was_not_observed(demo):
    last = {"replica": "tiny-mixtral-7d9f-abcde", "created": "2026-12-05T10:00:00Z", "totalSeconds": 91.0,
            "phases": {"scheduled": 0.0, "prepullDone": 3.0, "imagePulled": 1.0, "engineStarted": 0.5,
                       "weightsLoaded": 40.2, "serving": 1.1, "warmedUp": 2.0, "ready": 5.1},
            "unobserved": "not observed: compiled: engine log: 500 Internal Server Error"}
    cold = demo.ColdStart.model_validate({"last": last, "recent": [last],
                                          "median": {"samples": 3, "totalSeconds": 88.5, "phases": {}}})
    lines = demo.cold_start_table(cold).splitlines()
    assert [line.split()[0] for line in lines[:9]] == [
        "scheduled", "prepull", "image", "engine", "weights", "compiled", "serving", "warmed", "ready"]
    assert lines[4].split()[-2:] == ["40.2", "s"] and lines[5].split()[-1] == "-"
    assert "91.0 s  (tiny-mixtral-7d9f-abcde)" in lines[9]
    assert lines[10].strip() == last["unobserved"]
    assert lines[11].startswith("median over 3 cold start(s): 88.5 s")
