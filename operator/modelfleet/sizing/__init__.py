"""The memory model, the parallelism rules and the Plan: pure functions.

The entry point is ``plan_deployment(spec, model, pools, gpu_prices)``; the
model comes from ``modelfleet.catalog.load_model_config``.
"""

from modelfleet.engines.memory_rules import EngineMemory, KVSlots, Overhead

from .capacity import (
    CONDITION as KV_CAPACITY_CONDITION,
    NOT_REPORTED as KV_CAPACITY_NOT_REPORTED,
    CapacityVerdict,
    judge_capacity,
    unreported_capacity,
)
from .errors import (
    ContextTooLong,
    InvalidTensorParallel,
    NoPlanFits,
    NoPools,
    SizingError,
    UnknownPool,
    UnreadableEngineArgs,
    UnservableQuantization,
    UnsupportedArchitecture,
)
from .memory import (
    MemoryNeed,
    Workload,
    engine_memory,
    kv_bytes_per_token,
    kv_capacity_tokens,
    memory_need,
    prefill_tokens,
)
from .parameters import ParameterCount, TensorGroup, count_parameters, model_tensors
from .planner import Candidate, ModelSummary, SizingResult, plan_deployment
from .quantization import tensor_bytes
from .rules import gpu_problems, quantization_problems, tensor_parallel_problems

__all__ = [
    "plan_deployment", "SizingResult", "Candidate", "ModelSummary",
    "SizingError", "ContextTooLong", "InvalidTensorParallel", "NoPlanFits", "NoPools", "UnknownPool",
    "UnservableQuantization", "UnsupportedArchitecture", "UnreadableEngineArgs",
    "count_parameters", "model_tensors", "ParameterCount", "TensorGroup", "tensor_bytes",
    "MemoryNeed", "Overhead", "Workload", "memory_need", "kv_bytes_per_token", "kv_capacity_tokens", "prefill_tokens",
    "KV_CAPACITY_CONDITION", "KV_CAPACITY_NOT_REPORTED", "CapacityVerdict", "judge_capacity", "unreported_capacity",
    "EngineMemory", "KVSlots", "engine_memory",
    "tensor_parallel_problems", "quantization_problems", "gpu_problems",
]
