"""The KV cache a running engine really got, against the plan and the spec (pure).

The plan predicts the KV cache's token slots per replica
(``Plan.kvCapacityTokens``); a Ready engine reports its own
(``autoscale.scrape.kv_capacity_tokens``). Both become full-length sequences
with the engine's per-sequence rule the plan used
(``Plan.kvTokensPerSequence``: the window for vLLM's sliding-window layers,
else maxModelLen). When the engine holds fewer sequences than
``serving.maxConcurrency``, the verdict says by how much and what would fix
it, with numbers: more tensor parallelism, an fp8 KV cache, a shorter
maxModelLen, or a lower maxConcurrency.

The verdict says where the measured figure came from (``KVCapacity.source``).
An engine whose pinned release never reports its KV cache size (TGI 3.3.7:
``engines.tgi``) gets ``unreported_capacity``: the condition is Unknown and
says why, so a missing figure is never mistaken for a check that passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import TENSOR_PARALLEL_SIZES, KVCapacity, LLMDeploymentSpec, Plan
from modelfleet.api.status import ConditionStatus

CONDITION = "KVCacheSufficient"
NOT_REPORTED = "KVCapacityNotReported"
NO_SOURCE = "none"


@dataclass(frozen=True)
class CapacityVerdict:
    capacity: KVCapacity
    sufficient: bool | None  # None: the engine reports no figure to judge
    reason: str  # CamelCase, for the condition and the event
    message: str

    @property
    def condition_status(self) -> ConditionStatus:
        return "Unknown" if self.sufficient is None else "True" if self.sufficient else "False"


def _per_sequence_and_planned(plan: Plan) -> tuple[int, int]:
    per_sequence = plan.kv_tokens_per_sequence or plan.max_model_len
    planned_tokens = plan.kv_capacity_tokens if plan.kv_capacity_tokens is not None else (
        plan.max_concurrent_sequences * per_sequence
    )
    return per_sequence, planned_tokens


def judge_capacity(spec: LLMDeploymentSpec, plan: Plan, measured_tokens: int, replica: str = "", *,
                   source: str = "") -> CapacityVerdict:
    """Planned vs measured KV capacity of one replica, and whether it holds ``maxConcurrency`` sequences.

    ``source`` says where ``measured_tokens`` came from (``autoscale.scrape.kv_capacity_reading``).
    """
    per_sequence, planned_tokens = _per_sequence_and_planned(plan)
    measured_sequences = measured_tokens // per_sequence
    capacity = KVCapacity(
        planned_tokens=planned_tokens,
        planned_sequences=planned_tokens // per_sequence,
        measured_tokens=measured_tokens,
        measured_sequences=measured_sequences,
        ratio=round(measured_tokens / planned_tokens, 3) if planned_tokens else 0.0,
        replica=replica,
        source=source,
    )
    asked = spec.serving.max_concurrency
    where = f"{replica or 'the replica'} reports {measured_tokens} KV cache tokens"
    plan_said = f"the plan predicted {planned_tokens} ({capacity.ratio:.0%} of it measured)"
    if measured_sequences >= asked:
        return CapacityVerdict(capacity, True, "KVCacheHoldsMaxConcurrency",
                               f"{where}, {measured_sequences} sequences of {plan.max_model_len} tokens; "
                               f"serving.maxConcurrency is {asked}; {plan_said}.")
    short = asked - measured_sequences
    message = (f"{where}: {measured_sequences} sequences of {plan.max_model_len} tokens ({per_sequence} KV slots "
               f"each), {short} ({short / asked:.0%}) short of serving.maxConcurrency {asked}; {plan_said}. "
               f"To fix: {'; or '.join(remedies(spec, plan, measured_tokens, per_sequence))}.")
    return CapacityVerdict(capacity, False, "KVCacheTooSmall", message)


def unreported_capacity(spec: LLMDeploymentSpec, plan: Plan, why: str, replica: str = "") -> CapacityVerdict:
    """The verdict when the engine reports no KV cache size at all (``why``: the engine profile's reason)."""
    per_sequence, planned_tokens = _per_sequence_and_planned(plan)
    capacity = KVCapacity(planned_tokens=planned_tokens, planned_sequences=planned_tokens // per_sequence,
                          replica=replica, source=NO_SOURCE)
    message = (f"{replica or 'the replica'} reports no KV cache size, so serving.maxConcurrency "
               f"{spec.serving.max_concurrency} is not checked against a measurement; the plan predicted "
               f"{planned_tokens} tokens ({capacity.planned_sequences} sequences of {plan.max_model_len}). {why}")
    return CapacityVerdict(capacity, None, NOT_REPORTED, message)


def remedies(spec: LLMDeploymentSpec, plan: Plan, measured_tokens: int, per_sequence: int) -> list[str]:
    """What would make ``maxConcurrency`` sequences fit, each with the number it needs."""
    asked = spec.serving.max_concurrency
    found = []
    larger = [tp for tp in TENSOR_PARALLEL_SIZES if tp > plan.tensor_parallel_size]
    if larger:
        found.append(f"more tensor parallelism (gpu.tensorParallelSize {larger[0]}: each GPU holds a "
                     f"{larger[0] // plan.tensor_parallel_size}x smaller share of the weights and KV heads)")
    if spec.model.kv_cache_dtype == "auto":
        found.append(f"an fp8 KV cache (model.kvCacheDtype fp8: half the bytes per token, about "
                     f"{2 * measured_tokens // per_sequence} sequences)")
    # A shorter context shrinks full-attention sequences; a windowed one only while it is under the window.
    shorter = measured_tokens // asked
    if 16 <= shorter < plan.max_model_len:
        found.append(f"serving.maxModelLen {shorter} or less")
    found.append(f"serving.maxConcurrency {measured_tokens // per_sequence} or less")
    return found
