"""The closed loop on KV capacity: judging what an engine reports, and the status and events it gives (pure)."""

from __future__ import annotations

from modelfleet.api import GPUPool, LLMDeploymentSpec, LLMDeploymentStatus, WarmupMeasured
from modelfleet.catalog import load_model_config
from modelfleet.controller.decide.capacity import capacity_status, transition_event
from modelfleet.controller.decide.status import Observation, derive_status
from modelfleet.engines.tgi import METRICS as TGI_METRICS
from modelfleet.sizing import (
    KV_CAPACITY_CONDITION,
    KV_CAPACITY_NOT_REPORTED,
    judge_capacity,
    plan_deployment,
    unreported_capacity,
)

T0, T1 = "2026-11-30T01:00:00Z", "2026-11-30T01:05:00Z"
EMPTY = LLMDeploymentStatus()
H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)


def spec(model: str = "mistralai/Mistral-7B-Instruct-v0.3", length: int = 32768, concurrency: int = 16,
         kv_dtype: str = "auto") -> LLMDeploymentSpec:
    return LLMDeploymentSpec.model_validate({
        "model": {"id": model, "kvCacheDtype": kv_dtype}, "serving": {"maxModelLen": length,
                                                                      "maxConcurrency": concurrency},
        "gpu": {"pools": ["h100"]},
    })


def plan_for(s: LLMDeploymentSpec):
    return plan_deployment(s, load_model_config(s.model.id), [H100]).require_chosen()


def test_an_engine_that_got_what_was_planned_holds_max_concurrency():
    s = spec()
    plan = plan_for(s)
    verdict = judge_capacity(s, plan, plan.kv_capacity_tokens, "pod-0")
    assert verdict.sufficient and verdict.reason == "KVCacheHoldsMaxConcurrency"
    assert verdict.capacity.ratio == 1.0
    assert verdict.capacity.measured_sequences == verdict.capacity.planned_sequences == plan.max_concurrent_sequences
    assert verdict.capacity.replica == "pod-0"


def test_a_shortfall_says_by_how_much_and_what_to_change():
    s = spec(concurrency=16)
    plan = plan_for(s)
    verdict = judge_capacity(s, plan, 12 * 32768 + 100, "pod-0")
    assert not verdict.sufficient and verdict.reason == "KVCacheTooSmall"
    assert verdict.capacity.measured_sequences == 12
    assert verdict.capacity.ratio < 1
    message = verdict.message
    assert "12 sequences of 32768 tokens" in message and "4 (25%) short of serving.maxConcurrency 16" in message
    assert f"gpu.tensorParallelSize {2 * plan.tensor_parallel_size}" in message
    assert "model.kvCacheDtype fp8" in message and "about 24 sequences" in message
    assert f"serving.maxModelLen {(12 * 32768 + 100) // 16} or less" in message
    assert "serving.maxConcurrency 12 or less" in message


def test_fp8_is_not_suggested_twice():
    s = spec(kv_dtype="fp8", concurrency=16)
    verdict = judge_capacity(s, plan_for(s), 4 * 32768)
    assert "kvCacheDtype" not in verdict.message


def test_sequences_follow_the_engines_window():
    """Mistral v0.1 on vLLM: a sequence of 32768 tokens takes 20496 KV slots (sliding window)."""
    s = spec(model="mistralai/Mistral-7B-Instruct-v0.1")
    plan = plan_for(s)
    assert plan.kv_tokens_per_sequence == 20496
    verdict = judge_capacity(s, plan, 16 * 20496)
    assert verdict.sufficient and verdict.capacity.measured_sequences == 16


def test_the_condition_and_kv_capacity_are_written_and_stable():
    s = spec()
    plan = plan_for(s)
    previous = derive_status(Observation(generation=3, plan=plan), EMPTY, T0)
    short = judge_capacity(s, plan, 4 * 32768, "pod-0")
    after = capacity_status(short, previous, 3, T1)
    assert after.kv_capacity.measured_sequences == 4
    kinds = {c.type: c for c in after.conditions}
    assert set(kinds) == {"Ready", "Progressing", "Degraded", KV_CAPACITY_CONDITION}
    assert kinds[KV_CAPACITY_CONDITION].status == "False"
    assert kinds[KV_CAPACITY_CONDITION].last_transition_time == T1
    assert capacity_status(short, after, 3, "2026-11-30T02:00:00Z") == after  # nothing moved: nothing written
    assert transition_event(previous, short)[:2] == ("Warning", "KVCacheTooSmall")
    assert transition_event(after, short) is None  # no second event for the same state


def test_recovery_posts_a_normal_event_and_a_first_good_measurement_none():
    s = spec()
    plan = plan_for(s)
    fresh = derive_status(Observation(generation=1, plan=plan), EMPTY, T0)
    good = judge_capacity(s, plan, plan.kv_capacity_tokens)
    assert transition_event(fresh, good) is None
    short = capacity_status(judge_capacity(s, plan, 32768), fresh, 1, T0)
    assert transition_event(short, good)[:2] == ("Normal", "KVCacheHoldsMaxConcurrency")


def test_a_reconcile_keeps_the_measurement_while_the_plan_stands_and_drops_it_when_it_moves():
    s = spec()
    plan = plan_for(s)
    status = derive_status(Observation(generation=1, plan=plan), EMPTY, T0)
    status = capacity_status(judge_capacity(s, plan, 32768), status, 1, T0)
    again = derive_status(Observation(generation=1, plan=plan), status, T1)
    assert again.kv_capacity == status.kv_capacity
    assert KV_CAPACITY_CONDITION in {c.type for c in again.conditions}
    moved = derive_status(Observation(generation=2, plan=plan_for(spec(concurrency=4))), status, T1)
    assert moved.kv_capacity is None  # left out of the applied status: the stored measurement is removed
    assert "kvCapacity" not in moved.to_wire()
    assert KV_CAPACITY_CONDITION not in {c.type for c in moved.conditions}


def test_a_measurement_says_where_its_figure_came_from():
    s = spec()
    plan = plan_for(s)
    verdict = judge_capacity(s, plan, plan.kv_capacity_tokens, "pod-0",
                             source="GET /metrics: vllm:cache_config_info num_gpu_blocks × block_size")
    assert verdict.capacity.source == "GET /metrics: vllm:cache_config_info num_gpu_blocks × block_size"
    assert verdict.condition_status == "True"


def test_an_engine_that_reports_no_kv_size_gets_an_unknown_condition_that_says_why():
    """TGI 3.3.7 never exports tgi_batch_max_total_tokens (engines.tgi): status says so, it never stays silent."""
    s = spec(concurrency=16)
    plan = plan_for(s)
    why = TGI_METRICS.kv_tokens_unreported
    verdict = unreported_capacity(s, plan, why, "pod-0")
    assert verdict.sufficient is None and verdict.condition_status == "Unknown"
    assert verdict.reason == KV_CAPACITY_NOT_REPORTED == "KVCapacityNotReported"
    assert verdict.capacity.source == "none"
    assert verdict.capacity.measured_tokens is None and verdict.capacity.ratio is None
    assert verdict.capacity.planned_tokens == plan.kv_capacity_tokens
    assert "pod-0 reports no KV cache size" in verdict.message and "serving.maxConcurrency 16" in verdict.message
    assert "backends/v3/src/lib.rs" in verdict.message and "Setting max batch total tokens to N" in verdict.message

    previous = derive_status(Observation(generation=2, plan=plan), EMPTY, T0)
    after = capacity_status(verdict, previous, 2, T1)
    condition = next(c for c in after.conditions if c.type == KV_CAPACITY_CONDITION)
    assert (condition.status, condition.reason) == ("Unknown", "KVCapacityNotReported")
    assert after.to_wire()["kvCapacity"] == {"plannedTokens": plan.kv_capacity_tokens,
                                             "plannedSequences": verdict.capacity.planned_sequences,
                                             "replica": "pod-0", "source": "none"}
    assert transition_event(previous, verdict)[:2] == ("Normal", "KVCapacityNotReported")  # said once
    assert transition_event(after, verdict) is None
    # A reconcile keeps it while the plan stands, as it keeps a measurement.
    again = derive_status(Observation(generation=2, plan=plan), after, T1)
    assert again.kv_capacity == after.kv_capacity and condition in again.conditions


def test_the_warm_up_a_replica_measured_is_written_with_its_capacity_and_dropped_with_its_plan():
    s = spec()
    plan = plan_for(s)
    warmup = WarmupMeasured(replica="pod-0", outcome="complete", requests=17, failed=0, duration_seconds=0.8,
                            long_prompt_tokens=508, experts="not measured: the engine tells nothing")
    status = derive_status(Observation(generation=1, plan=plan), EMPTY, T0)
    status = capacity_status(judge_capacity(s, plan, 32768), status, 1, T0, warmup)
    assert status.warmup == warmup and status.to_wire()["warmup"]["durationSeconds"] == 0.8
    assert derive_status(Observation(generation=1, plan=plan), status, T1).warmup == warmup
    assert capacity_status(judge_capacity(s, plan, 32768), status, 1, T1).warmup == warmup  # no new reading
    moved = derive_status(Observation(generation=2, plan=plan_for(spec(concurrency=4))), status, T1)
    assert moved.warmup is None and "warmup" not in moved.to_wire()
