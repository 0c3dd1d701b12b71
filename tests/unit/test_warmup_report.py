"""status.warmup from a warm-up sidecar's /ready body (autoscale.warmup_report, pure): the summary the
sidecar itself makes (runtime.warmup.summarise), and why an engine could not tell the experts reached."""

from __future__ import annotations

import pytest

from modelfleet.autoscale.warmup_report import warmup_measured
from modelfleet.engines import profile_for
from modelfleet.runtime.experts import ExpertCoverage
from modelfleet.runtime.warmup import summarise
from modelfleet.runtime.warmup_set import RequestRecord, WarmupReport


def ready_body(report: WarmupReport, num_experts: int | None = None) -> dict:
    return {"phase": "ready", "last_warmup": summarise(report, "complete", 1.234, num_experts)}


def report(statuses: list[int], coverage: ExpertCoverage | None = None) -> WarmupReport:
    return WarmupReport(records=[RequestRecord(1, "code", 0.05, s) for s in statuses], long_prompt_tokens=508,
                        coverage=coverage or ExpertCoverage())


@pytest.mark.parametrize("kind, says", [("tgi", "TGI 3.3.7 tells a client nothing"),
                                        ("vllm", "only with --enable-return-routed-experts")])
def test_without_routing_reported_it_says_the_experts_were_not_measured_and_why(kind, says):
    measured = warmup_measured(ready_body(report([200, 200, 422])), "pod-0", profile_for(kind))
    assert (measured.replica, measured.outcome, measured.requests, measured.failed) == ("pod-0", "complete", 3, 1)
    assert measured.duration_seconds == 1.234 and measured.long_prompt_tokens == 508
    assert measured.experts.startswith("not measured: ") and says in measured.experts


def test_with_routing_reported_it_counts_the_pairs_reached():
    coverage = ExpertCoverage()
    coverage.hit = {0: {0, 1, 5}, 1: {2, 3}}  # what routed experts of two layers add up to
    measured = warmup_measured(ready_body(report([200], coverage), num_experts=8), "pod-0", profile_for("vllm"))
    assert measured.experts == "5 of 16 (layer, expert) pairs reached in 2 layers"


@pytest.mark.parametrize("body", [None, [], {"phase": "warming", "last_warmup": None}, {"last_warmup": {"x": 1}},
                                  {"last_warmup": {"outcome": "complete", "requests": "many", "failed": 0,
                                                   "duration_s": 1}}])
def test_anything_but_a_finished_warm_up_is_nothing(body):
    assert warmup_measured(body, "pod-0", profile_for("tgi")) is None
