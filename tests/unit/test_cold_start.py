"""A replica's cold start by phase (autoscale.cold_start), and what the recorder writes (decide.cold_start)."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from kubernetes.client import ApiException

from modelfleet.api import (
    COLD_START_PHASES,
    COLD_START_SAMPLES,
    ColdStart,
    ColdStartPhases,
    ColdStartSample,
    LLMDeploymentStatus,
    parse_llmdeployment,
)
from modelfleet.autoscale.cold_start import WARMUP_DONE_MARK, PodRecord, cold_start_sample
from modelfleet.controller.autoscaler import planned_cold_start
from modelfleet.controller.cache import ClusterCache
from modelfleet.controller.cold_start import read_pod
from modelfleet.controller.decide import Ref, Snapshot
from modelfleet.controller.decide.cold_start import SLOW_REASON, decide_cold_start, summary, to_measure
from modelfleet.controller.decide.fields import COLD_START
from modelfleet.engines import tgi, vllm
from modelfleet.runtime.warmup import summarise
from modelfleet.runtime.warmup_set import WarmupReport
from support.specs import small_mistral

# A real start of the pinned vLLM (CPU build, the tiny Mixtral), its lines stamped as the kubelet stamps them.
VLLM_LOG = (Path(__file__).parents[1] / "support" / "logs" / "vllm-cpu-start.log").read_text()
# The lines TGI 3.3.7 writes at the marks (launcher/src/main.rs, backends/v3/src/lib.rs, router/src/server.rs).
TGI_LOG = """\
2026-12-05T20:43:01.100000000Z INFO text_generation_launcher: Starting shard rank=0
2026-12-05T20:43:09.500000000Z INFO shard-manager: text_generation_launcher: Shard ready in 8.4s rank=0
2026-12-05T20:43:09.700000000Z INFO text_generation_launcher: Starting Webserver
2026-12-05T20:43:10.000000000Z INFO text_generation_router_v3: Warming up model
2026-12-05T20:43:20.000000000Z INFO text_generation_router_v3: Setting max batch total tokens to 4096
2026-12-05T20:43:20.500000000Z INFO text_generation_router::server: Connected
"""
WARMUP_LOG = ("2026-12-05T20:43:26.500000000Z modelfleet-warmup: the engine answers its health check; warming it up\n"
              '2026-12-05T20:43:29.250000000Z {"event": "warmup", "outcome": "complete", "duration_s": 2.7}\n')


def pod(name: str = "tiny-0", created: str = "2026-12-05T20:42:40Z", ready: str | None = "2026-12-05T20:43:31Z",
        engine_started: str = "2026-12-05T20:42:51Z") -> dict:
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-05T20:42:41Z"}]
    if ready:
        conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": ready})
    return {
        "metadata": {"name": name, "namespace": "llm", "uid": f"uid-{name}", "creationTimestamp": created},
        "spec": {"containers": [{"name": "engine"}], "initContainers": [{"name": "prepull"}, {"name": "warmup"}]},
        "status": {
            "podIP": "198.18.0.10",
            "conditions": conditions,
            "initContainerStatuses": [
                {"name": "prepull", "state": {"terminated": {"finishedAt": "2026-12-05T20:42:45Z"}}},
                {"name": "warmup", "state": {"running": {"startedAt": "2026-12-05T20:42:46Z"}}}],
            "containerStatuses": [{"name": "engine", "state": {"running": {"startedAt": engine_started}}}],
        },
    }


PULLED = [{"reason": "Pulled", "lastTimestamp": "2026-12-05T20:42:50Z",
           "involvedObject": {"fieldPath": "spec.containers{engine}"}},
          {"reason": "Pulled", "lastTimestamp": "2026-12-05T20:42:42Z",
           "involvedObject": {"fieldPath": "spec.initContainers{prepull}"}}]


def test_a_vllm_start_by_phase_from_the_pod_its_events_and_its_logs():
    sample = cold_start_sample(PodRecord(pod(), PULLED, VLLM_LOG, WARMUP_LOG), vllm.PROFILE)
    assert sample is not None and sample.total_seconds == 51.0
    assert sample.phases == ColdStartPhases(
        scheduled=1.0, prepull_done=4.0, image_pulled=5.0, engine_started=1.0,
        weights_loaded=11.0,  # "Loading weights took" at 20:43:02
        compiled=23.0,  # "init engine (profile, create kv cache, warmup model) took" at 20:43:25
        serving=1.0,  # "Starting vLLM server on" at 20:43:26
        warmed_up=3.2, ready=1.8)
    assert sum(getattr(sample.phases, p) for p in COLD_START_PHASES) == pytest.approx(sample.total_seconds)
    assert sample.unobserved == ""


def test_a_tgi_start_reads_its_own_lines():
    record = PodRecord(pod(engine_started="2026-12-05T20:43:00Z", ready="2026-12-05T20:43:31Z"), PULLED, TGI_LOG,
                       WARMUP_LOG)
    sample = cold_start_sample(record, tgi.PROFILE)
    assert sample is not None
    assert (sample.phases.weights_loaded, sample.phases.compiled, sample.phases.serving) == (9.5, 10.5, 0.5)


def test_what_cannot_be_read_is_unset_said_and_its_time_goes_to_the_next_phase():
    record = PodRecord(pod(), [], None, None, unreadable="engine log: 502 Bad Gateway")
    sample = cold_start_sample(record, vllm.PROFILE)
    assert sample is not None
    missing = ("image_pulled", "weights_loaded", "compiled", "serving", "warmed_up")
    assert all(getattr(sample.phases, p) is None for p in missing)
    assert sample.phases.engine_started == 6.0 and sample.phases.ready == 40.0
    assert sample.unobserved == ("not observed: image_pulled, weights_loaded, compiled, serving, warmed_up: "
                                 "engine log: 502 Bad Gateway")
    assert sum(getattr(sample.phases, p) or 0 for p in COLD_START_PHASES) == pytest.approx(sample.total_seconds)


def test_a_log_line_stamped_after_readys_whole_second_counts_as_at_ready():
    """The API server truncates the Ready condition to the second; the warm-up's line, stamped to the nanosecond,
    can fall after it (CI, stop 35: phases 30.7 s against a total of 30 s). The phases still add up to the total."""
    late_warmup = WARMUP_LOG.replace("20:43:29.250000000Z", "20:43:31.700000000Z")
    sample = cold_start_sample(PodRecord(pod(), PULLED, VLLM_LOG, late_warmup), vllm.PROFILE)
    assert sample is not None and sample.total_seconds == 51.0
    assert (sample.phases.warmed_up, sample.phases.ready) == (5.0, 0.0)
    assert sum(getattr(sample.phases, p) for p in COLD_START_PHASES) == pytest.approx(sample.total_seconds)


def _stamp(at: datetime.datetime, whole_seconds: bool) -> str:
    """A time as the API server writes it (whole seconds, truncated) or as the kubelet stamps a log line."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if whole_seconds else at.strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-5_000, 60_000), min_size=8, max_size=8), st.integers(0, 60))
def test_the_phases_add_up_to_the_total_whatever_order_the_moments_come_in(offsets_ms, ready_s):
    """Boundaries out of order, before created or after Ready, from whole-second pod times and nanosecond log
    stamps: the phases are never negative and add up to created -> Ready."""
    created = datetime.datetime(2026, 12, 5, 20, 42, 40, tzinfo=datetime.UTC)
    at = [created + datetime.timedelta(milliseconds=ms) for ms in offsets_ms]
    body = pod(created=_stamp(created, True), ready=_stamp(created + datetime.timedelta(seconds=ready_s), True),
               engine_started=_stamp(at[3], True))
    body["status"]["conditions"][0]["lastTransitionTime"] = _stamp(at[0], True)
    body["status"]["initContainerStatuses"][0]["state"]["terminated"]["finishedAt"] = _stamp(at[1], True)
    pulled = [{**PULLED[0], "lastTimestamp": _stamp(at[2], True)}]
    engine_log = "".join(f"{_stamp(moment, False)} INFO {line}\n" for moment, line in
                         zip(at[4:7], ("Shard ready in 8.4s", "Setting max batch total tokens to 4096", "Connected"),
                             strict=True))
    warmup_log = f'{_stamp(at[7], False)} {{"event": "warmup", "outcome": "complete"}}\n'
    sample = cold_start_sample(PodRecord(body, pulled, engine_log, warmup_log), tgi.PROFILE)
    assert sample is not None and sample.unobserved == "" and sample.total_seconds == ready_s
    phases = [getattr(sample.phases, p) for p in COLD_START_PHASES]
    assert all(phase >= 0 for phase in phases)
    assert sum(phases) == pytest.approx(sample.total_seconds, abs=1e-9)


def test_a_pod_not_ready_is_not_timed():
    assert cold_start_sample(PodRecord(pod(ready=None), [], VLLM_LOG, WARMUP_LOG), vllm.PROFILE) is None


def test_the_warmup_sidecars_summary_line_is_the_mark():
    line = json.dumps(summarise(WarmupReport(), "complete", 2.5, None))
    assert re.search(WARMUP_DONE_MARK, line)


# --- the recorder's writes --------------------------------------------------------------------------------------


def sample(name: str, created: str, total: float, compiled: float | None = 20.0) -> ColdStartSample:
    return ColdStartSample(replica=name, created=created, total_seconds=total,
                           phases=ColdStartPhases(engine_started=total - (compiled or 0), compiled=compiled))


def snapshot_with(recent: list[ColdStartSample], pods: list[dict]):
    status = LLMDeploymentStatus(cold_start=ColdStart(last=recent[-1], median=summary(recent), recent=recent)
                                 if recent else None)
    body = {**small_mistral(), "metadata": {"name": "mistral", "namespace": "llm", "uid": "u1"}}
    return Snapshot(Ref("llm", "mistral", "u1", 1), parse_llmdeployment(body), status, pods=tuple(pods))


def test_only_ready_pods_not_timed_yet_are_measured():
    kept = [sample("tiny-0", "2026-12-05T20:42:40Z", 51)]
    fresh = pod("tiny-1", created="2026-12-05T20:50:00Z")
    unready = pod("tiny-2", created="2026-12-05T20:51:00Z", ready=None)
    snapshot = snapshot_with(kept, [pod("tiny-0"), fresh, unready])
    assert [p["metadata"]["name"] for p in to_measure(snapshot)] == ["tiny-1"]


def test_it_keeps_the_last_samples_and_their_medians_under_its_own_manager():
    before = [sample(f"p{i}", f"2026-12-05T20:{i:02d}:00Z", 50 + i) for i in range(COLD_START_SAMPLES)]
    new = sample("p99", "2026-12-05T21:00:00Z", 70)
    writes = decide_cold_start(snapshot_with(before, []), [new])
    (write,) = writes.status
    assert write.manager == COLD_START
    recorded = write.status.cold_start
    assert recorded is not None and len(recorded.recent) == COLD_START_SAMPLES
    assert recorded.recent[0].replica == "p1" and recorded.last == new
    assert recorded.median.total_seconds == 54.5 and recorded.median.samples == COLD_START_SAMPLES


def test_a_phase_far_slower_than_its_median_is_a_warning_naming_it():
    before = [sample(f"p{i}", f"2026-12-05T20:{i:02d}:00Z", 50) for i in range(3)]
    slow = sample("slow", "2026-12-05T21:00:00Z", 130, compiled=100.0)
    (event,) = decide_cold_start(snapshot_with(before, []), [slow]).events
    assert (event.type, event.reason) == ("Warning", SLOW_REASON)
    assert "phase compiled took 100 s, 5.0x the median 20 s of the last 3 cold starts" in event.message
    # a little slower, or too few to know what is usual: nothing to say
    assert not decide_cold_start(snapshot_with(before, []), [sample("a", "2026-12-05T21:01:00Z", 60, 35.0)]).events
    assert not decide_cold_start(snapshot_with(before[:2], []), [slow]).events


def test_the_autoscaler_plans_with_the_measured_median_else_the_estimate():
    assert planned_cold_start(LLMDeploymentStatus(), 180.0) == 180.0
    recent = [sample("a", "2026-12-05T20:00:00Z", 40), sample("b", "2026-12-05T20:01:00Z", 60)]
    measured = LLMDeploymentStatus(cold_start=ColdStart(last=recent[-1], median=summary(recent), recent=recent))
    assert planned_cold_start(measured, 180.0) == 50.0


# --- the reading step, on a pod as the operator's cache keeps it ---------------------------------------------------


class FakeKube:
    def __init__(self, fail_logs: bool = False):
        self.fail_logs = fail_logs
        self.asked: list[str] = []

    def pod_events(self, namespace: str, uid: str) -> list[dict]:
        return PULLED

    def pod_log_head(self, namespace: str, name: str, container: str, limit_bytes: int) -> str:
        self.asked.append(container)
        if self.fail_logs:
            raise ApiException(status=502, reason="Bad Gateway")
        return {"engine": VLLM_LOG, "warmup": WARMUP_LOG}[container]


def cached(full_pod: dict) -> dict:
    cache = ClusterCache("modelfleet.io/llmdeployment", managed_fields_of=frozenset(), own_manager="modelfleet")
    cache.store({"apiVersion": "v1", "kind": "Pod", **full_pod})
    return cache.get("Pod", "llm", full_pod["metadata"]["name"])


def test_a_cached_pod_still_names_its_containers_and_their_times():
    kube = FakeKube()
    record = read_pod(kube, cached(pod()))
    assert kube.asked == ["engine", "warmup"] and record.unreadable == ""
    sample = cold_start_sample(record, vllm.PROFILE)
    assert sample is not None and sample.unobserved == "" and sample.phases.prepull_done == 4.0


def test_logs_the_kubelet_will_not_give_are_said():
    record = read_pod(FakeKube(fail_logs=True), cached(pod()))
    assert record.unreadable == "engine log: 502 Bad Gateway; warmup log: 502 Bad Gateway"
