"""Choosing the plan: per pool the smallest valid tensor-parallel size that fits, then the cheapest pool.

Candidates are evaluated per pool from TP 1 upwards through the powers of two
a node of the pool holds (up to 16), stopping at the first that fits; an
explicit ``spec.gpu.tensorParallelSize`` is the only candidate instead, so it
is checked, never trusted. Among the pools that fit, the lowest price per
replica-hour wins, then the order of ``spec.gpu.pools`` (or of the pools
given, when the spec names none). Every candidate carries its numbers, so a
person can see why each smaller plan was rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelfleet.api import TENSOR_PARALLEL_SIZES, GPUPool, LLMDeploymentSpec, Plan, PlanOverhead
from modelfleet.api.quantity import GIB, MIB, gib_quantity
from modelfleet.api.spec import EngineKind
from modelfleet.catalog import ModelConfig, cuda_total, gpu_info
from modelfleet.engines import profile_for
from modelfleet.engines.memory_rules import EngineArgsError, GPUMemory, Overhead

from .errors import (
    ContextTooLong,
    InvalidTensorParallel,
    NoPlanFits,
    NoPools,
    SizingError,
    UnknownPool,
    UnreadableEngineArgs,
    UnservableQuantization,
)
from .memory import MemoryNeed, Workload, kv_bytes_per_token, memory_need, weight_bytes
from .parameters import TensorGroup, count_parameters, model_tensors
from .rules import gpu_problems, quantization_problems, tensor_parallel_problems


@dataclass(frozen=True)
class Candidate:
    """One (pool, TP) the planner looked at, and why it fits or not."""

    pool: str
    gpu_product: str
    tensor_parallel_size: int
    fits: bool
    reason: str
    weights_gib_per_gpu: float | None = None
    kv_cache_gib_per_gpu: float | None = None
    overhead_gib_per_gpu: float | None = None
    budget_gib_per_gpu: float | None = None
    max_concurrent_sequences: int | None = None
    price_per_hour: float | None = None
    expert_parallel: bool = False
    kv_capacity_tokens: int | None = None
    load_peak_gib_per_gpu: float | None = None
    overheads: tuple[Overhead, ...] = ()
    engine_settings: tuple[str, ...] = ()  # what the engine runs with that changes memory, and from where
    cuda_total_gib_per_gpu: float | None = None  # the GPU's memory as the engine's rules count it
    cuda_total_source: str = ""

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel_size

    def to_wire(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "gpuProduct": self.gpu_product,
            "tensorParallelSize": self.tensor_parallel_size,
            "gpusPerReplica": self.gpus_per_replica,
            "fits": self.fits,
            "reason": self.reason,
            # Memory as Kubernetes quantities, named as in status.plan.
            "weightsPerGPU": None if self.weights_gib_per_gpu is None else gib_quantity(self.weights_gib_per_gpu),
            "kvCachePerGPU": None if self.kv_cache_gib_per_gpu is None else gib_quantity(self.kv_cache_gib_per_gpu),
            "overheadPerGPU": None if self.overhead_gib_per_gpu is None else gib_quantity(self.overhead_gib_per_gpu),
            "budgetPerGPU": None if self.budget_gib_per_gpu is None else gib_quantity(self.budget_gib_per_gpu),
            "maxConcurrentSequences": self.max_concurrent_sequences,
            "pricePerHour": self.price_per_hour,
            "expertParallel": self.expert_parallel,
            "kvCapacityTokens": self.kv_capacity_tokens,
            "loadPeakPerGPU": None if self.load_peak_gib_per_gpu is None else gib_quantity(self.load_peak_gib_per_gpu),
            "engineSettings": list(self.engine_settings),
            "gpuMemoryCounted": None if self.cuda_total_gib_per_gpu is None else gib_quantity(
                self.cuda_total_gib_per_gpu),
            "gpuMemoryCountedSource": self.cuda_total_source,
        }


@dataclass(frozen=True)
class ModelSummary:
    """The model-wide numbers every candidate shares."""

    model_id: str
    config_source: str  # bundled or hub
    engine: EngineKind
    quantization: str
    kv_cache_dtype: str
    parameters: int
    active_parameters: int
    mixture_of_experts: bool
    weights_gib: float
    kv_cache_bytes_per_token: int
    max_model_len: int
    max_concurrency: int
    sliding_window: int | None = None
    kv_tokens_per_sequence: int = 0  # the engine's rule (its memory rules' kv_slots)
    kv_rule: str = ""  # that rule's source
    kv_reckoning: str = ""  # how the rule got there when it keeps less than the context (not on the wire)
    prefill_tokens: int = 0
    quantized_at_load: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "configSource": self.config_source,
            "engine": self.engine,
            "quantization": self.quantization,
            "kvCacheDtype": self.kv_cache_dtype,
            "parameters": self.parameters,
            "activeParameters": self.active_parameters,
            "mixtureOfExperts": self.mixture_of_experts,
            "weightsGiB": self.weights_gib,
            "kvCacheBytesPerToken": self.kv_cache_bytes_per_token,
            "maxModelLen": self.max_model_len,
            "maxConcurrency": self.max_concurrency,
            "slidingWindow": self.sliding_window,
            "kvTokensPerSequence": self.kv_tokens_per_sequence,
            "kvRule": self.kv_rule,
            "prefillTokens": self.prefill_tokens,
            "quantizedAtLoad": self.quantized_at_load,
        }


@dataclass(frozen=True)
class SizingResult:
    model: ModelSummary
    chosen: Plan | None
    candidates: tuple[Candidate, ...]

    def require_chosen(self) -> Plan:
        """The chosen plan, or NoPlanFits with every pool's numbers."""
        if self.chosen is None:
            raise NoPlanFits(self.failure_message())
        return self.chosen

    def failure_message(self) -> str:
        m = self.model
        closest = _closest_per_pool(self.candidates)
        return (
            f"no GPU pool can serve {m.model_id} ({_weights_kind(m.quantization)} weights {m.weights_gib:.1f} GiB, "
            f"{m.max_concurrency} sequences of {m.max_model_len} tokens): "
            + "; ".join(f"{c.pool}: {c.reason}" for c in closest)
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "model": self.model.to_wire(),
            "chosen": self.chosen.to_wire() if self.chosen else None,
            "candidates": [c.to_wire() for c in self.candidates],
        }


def _weights_kind(quantization: str) -> str:
    return "16-bit" if quantization == "none" else quantization


def plan_deployment(
    spec: LLMDeploymentSpec,
    model: ModelConfig,
    pools: Sequence[GPUPool],
    gpu_prices: Mapping[str, float] | None = None,
) -> SizingResult:
    """Size ``spec`` for ``model`` on ``pools``; prices per GPU-hour: pool, then ``gpu_prices``, then the catalog.

    Raises a SizingError for input no pool can change (unknown pool name,
    context longer than the model's, unservable quantization, an explicit TP
    that breaks the engine's rules). When the input is fine but nothing fits,
    ``chosen`` is None and the candidates say why.
    """
    tensors = model_tensors(model)
    workload = _workload(spec, model)
    _check_quantization(spec, model)
    selected = _select_pools(spec, pools)
    explicit = _explicit_tp(spec, model)
    evaluate = _Evaluator(spec, model, tensors, workload, gpu_prices or {})
    candidates = [c for pool in selected for c in evaluate.pool(pool, explicit)]
    summary = _summary(model, tensors, workload)
    chosen = _choose(candidates, selected, evaluate, summary)
    absent = [name for name in spec.gpu.pools if name not in {p.name for p in selected}]
    if chosen is not None and absent:
        chosen = chosen.model_copy(update={"reason": f"{chosen.reason}; spec.gpu.pools also names "
                                           f"{', '.join(absent)}, which has no nodes now"})
    return SizingResult(summary, chosen, tuple(candidates))


def _workload(spec: LLMDeploymentSpec, model: ModelConfig) -> Workload:
    limit = model.max_position_embeddings
    length = spec.serving.max_model_len or limit
    if length > limit:
        raise ContextTooLong(
            f"serving.maxModelLen {length} is longer than {model.model_id}'s context of {limit} tokens "
            "(config.json max_position_embeddings): lower it, or leave it out to use the model's"
        )
    quantization = spec.model.quantization
    workload = Workload(
        engine=spec.engine.kind,
        quantization=quantization,
        kv_cache_dtype=spec.model.kv_cache_dtype,
        max_model_len=length,
        max_concurrency=spec.serving.max_concurrency,
        # A 16-bit repo asked to serve quantized: the engine makes the quantized weights while loading.
        quantized_at_load=quantization != "none" and model.quantization is None,
        # The engine runs with them too: the plan is sized for what it will run with.
        engine_args=tuple(spec.engine.extra_args),
    )
    try:
        workload.rules  # noqa: B018 (read now, so an option the rules cannot count is said before any pool)
    except EngineArgsError as exc:
        raise UnreadableEngineArgs(str(exc)) from exc
    return workload


def _check_quantization(spec: LLMDeploymentSpec, model: ModelConfig) -> None:
    problems = quantization_problems(spec.engine.kind, model, spec.model.quantization)
    if problems:
        raise UnservableQuantization(
            f"{profile_for(spec.engine.kind).name} cannot serve {model.model_id} with quantization "
            f"{spec.model.quantization}: " + "; ".join(problems)
        )


def _select_pools(spec: LLMDeploymentSpec, pools: Sequence[GPUPool]) -> list[GPUPool]:
    """The pools the spec allows, in its order of preference (all pools, in their order, when it names none)."""
    if not pools:
        raise NoPools(
            "no GPU pools to size for: no node has GPU Feature Discovery labels (nvidia.com/gpu.product) "
            "and no pool is declared in the operator's settings"
        )
    if not spec.gpu.pools:
        return list(pools)
    by_name = {pool.name: pool for pool in pools}
    unknown = [name for name in spec.gpu.pools if name not in by_name]
    if len(unknown) == len(spec.gpu.pools):
        # A listed pool without nodes is normal on autoscaled clusters (a node group at zero, a zone
        # lost): the others listed are sized; only when none of them exists is there nothing to do.
        raise UnknownPool(
            f"spec.gpu.pools names {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not a GPU pool; "
            f"available pools: {', '.join(sorted(by_name))}"
        )
    return [by_name[name] for name in spec.gpu.pools if name in by_name]


def _explicit_tp(spec: LLMDeploymentSpec, model: ModelConfig) -> int | None:
    tp = spec.gpu.tensor_parallel_size
    if tp == "auto":
        return None
    if tp not in TENSOR_PARALLEL_SIZES:
        raise InvalidTensorParallel(f"spec.gpu.tensorParallelSize {tp} is not auto or one of "
                                    f"{', '.join(map(str, TENSOR_PARALLEL_SIZES))}")
    problems = tensor_parallel_problems(spec.engine.kind, model, tp, spec.model.quantization)
    if problems:
        raise InvalidTensorParallel(
            f"spec.gpu.tensorParallelSize {tp} cannot shard {model.model_id}: {'; '.join(problems)}; "
            "use auto, or a size the rules allow"
        )
    return tp


class _Evaluator:
    """Candidates of one pool: memory arithmetic, engine rules, price."""

    def __init__(self, spec: LLMDeploymentSpec, model: ModelConfig, tensors: tuple[TensorGroup, ...],
                 workload: Workload, gpu_prices: Mapping[str, float]):
        self.spec = spec
        self.model = model
        self.tensors = tensors
        self.workload = workload
        self.gpu_prices = gpu_prices

    def pool(self, pool: GPUPool, explicit: int | None) -> list[Candidate]:
        problem = self._pool_problem(pool)
        sizes = [explicit] if explicit else [tp for tp in TENSOR_PARALLEL_SIZES if tp <= pool.gpus_per_node]
        candidates = []
        for tp in sizes:
            candidate = self._rejected(pool, tp, problem) if problem else self.candidate(pool, tp)
            candidates.append(candidate)
            if candidate.fits or problem:
                break
        return candidates

    def _pool_problem(self, pool: GPUPool) -> str | None:
        gpu = gpu_info(pool.gpu_product)
        if gpu is None and pool.gpu_memory_mi_b is None:
            return (f"GPU {pool.gpu_product} is not in the catalog and the pool gives no memory "
                    "(nvidia.com/gpu.memory label or gpuMemoryMiB)")
        if self.price_per_gpu(pool) is None:
            return (f"no price for {pool.gpu_product}: set the pool's pricePerGpuHour "
                    "or the operator's gpuPrices")
        if gpu is not None and (problems := gpu_problems(self.workload.quantization, gpu)):
            return "; ".join(problems)
        if gpu is None and self.workload.quantization == "fp8":
            return f"fp8 weights need compute capability 8.0 or newer, unknown for {pool.gpu_product}"
        return None

    def price_per_gpu(self, pool: GPUPool) -> float | None:
        if pool.price_per_gpu_hour is not None:
            return pool.price_per_gpu_hour
        if pool.gpu_product in self.gpu_prices:
            return self.gpu_prices[pool.gpu_product]
        gpu = gpu_info(pool.gpu_product)
        return gpu.price_per_gpu_hour if gpu else None

    def _price(self, pool: GPUPool) -> float:
        price = self.price_per_gpu(pool)
        if price is None:  # _pool_problem turns such a pool away before any candidate is measured
            raise SizingError(f"no price for {pool.gpu_product}")
        return price

    def memory_bytes(self, pool: GPUPool) -> float:
        if pool.gpu_memory_mi_b is not None:
            return pool.gpu_memory_mi_b * MIB
        gpu = gpu_info(pool.gpu_product)
        if gpu is None:  # _pool_problem turns such a pool away before any candidate is measured
            raise SizingError(f"GPU {pool.gpu_product} is not in the catalog and the pool gives no memory")
        return gpu.memory_mib * MIB

    def gpu(self, pool: GPUPool) -> GPUMemory:
        """The pool's GPU as the engines' rules count it: the node's figure and CUDA's total (``catalog.gpus``)."""
        total, source = cuda_total(pool.gpu_product, pool.gpu_memory_mi_b)
        info = gpu_info(pool.gpu_product)
        return GPUMemory(self.memory_bytes(pool), total, source, info.compute_capability if info else None)

    def candidate(self, pool: GPUPool, tp: int) -> Candidate:
        if tp > pool.gpus_per_node:
            return self._rejected(pool, tp, f"TP {tp} needs {tp} GPUs on one node; {pool.name} nodes have "
                                            f"{pool.gpus_per_node}")
        problems = tensor_parallel_problems(self.workload.engine, self.model, tp, self.workload.quantization)
        if problems:
            return self._rejected(pool, tp, "; ".join(problems))
        need = memory_need(self.tensors, self.model, self.workload, tp, self.gpu(pool),
                           self.spec.gpu.memory_utilization)
        return self._measured(pool, tp, need)

    def _measured(self, pool: GPUPool, tp: int, need: MemoryNeed) -> Candidate:
        holds = need.max_sequences >= self.workload.max_concurrency
        problems = need.problems() if holds else []  # a KV cache that does not fit says more than the rest
        fits = holds and not problems
        if fits:
            reason = _fit_reason(need, self.workload)
        elif problems:
            engine = profile_for(self.workload.engine).name
            reason = f"{engine} at TP {tp} on {pool.gpu_product}: " + "; ".join(problems)
        else:
            reason = _misfit_reason(need, tp, pool.gpu_product, self.workload)
        return Candidate(
            pool=pool.name,
            gpu_product=pool.gpu_product,
            tensor_parallel_size=tp,
            fits=fits,
            reason=reason,
            weights_gib_per_gpu=_gib(need.weights),
            kv_cache_gib_per_gpu=_gib(need.kv_cache),
            overhead_gib_per_gpu=_gib(need.overhead),
            budget_gib_per_gpu=_gib(need.budget),
            max_concurrent_sequences=need.max_sequences,
            price_per_hour=round(self._price(pool) * tp, 4),
            expert_parallel=self._expert_parallel(tp),
            kv_capacity_tokens=need.kv_capacity_tokens,
            load_peak_gib_per_gpu=_gib(need.load_peak),
            overheads=need.overheads,
            engine_settings=need.settings,
            cuda_total_gib_per_gpu=_gib(need.gpu_memory),
            cuda_total_source=need.gpu_memory_source,
        )

    def _rejected(self, pool: GPUPool, tp: int, reason: str) -> Candidate:
        return Candidate(pool=pool.name, gpu_product=pool.gpu_product, tensor_parallel_size=tp, fits=False,
                         reason=reason)

    def _expert_parallel(self, tp: int) -> bool:
        """An engine that can place whole experts on GPUs (vLLM's --enable-expert-parallel) instead of slicing
        each one gets it when the experts divide evenly, so each GPU holds what TP would give it."""
        m = self.model
        engine = profile_for(self.workload.engine)
        return engine.expert_parallel and m.mixture_of_experts and tp > 1 and m.num_experts % tp == 0


def _fit_reason(need: MemoryNeed, workload: Workload) -> str:
    return (f"{_gib(need.total):.1f} of {_gib(need.budget):.1f} GiB per GPU: weights {_gib(need.weights):.1f} + "
            f"KV {_gib(need.kv_cache):.1f} + overhead {_gib(need.overhead):.1f}{_margin_note(need)}; room for "
            f"{need.max_sequences} sequences of {workload.max_model_len} tokens{_window_note(need, workload)}")


def _margin_note(need: MemoryNeed) -> str:
    """How much of the overhead is a safety margin the plan keeps, not memory the engine holds."""
    return f" (a safety margin of {_gib(need.margin):.2f} of it)" if need.margin else ""


def _window_note(need: MemoryNeed, workload: Workload) -> str:
    if need.kv_tokens_per_sequence >= workload.max_model_len:
        return ""
    return f" (the engine keeps {need.kv_tokens_per_sequence} KV slots per sequence: sliding window)"


def _misfit_reason(need: MemoryNeed, tp: int, product: str, workload: Workload) -> str:
    room = f"; room for {need.max_sequences} of the {workload.max_concurrency} sequences" if need.max_sequences else ""
    return (f"needs {_gib(need.total):.1f} GiB per GPU at TP {tp} on {product} ({_gib(need.budget):.1f} GiB "
            f"budget): weights {_gib(need.weights):.1f} + KV {_gib(need.kv_cache):.1f} + overhead "
            f"{_gib(need.overhead):.1f}{_margin_note(need)}{room}")


def _gib(value: float) -> float:
    return round(value / GIB, 2)


def _choose(candidates: list[Candidate], pools: list[GPUPool], evaluate: _Evaluator,
            summary: ModelSummary) -> Plan | None:
    order = {pool.name: i for i, pool in enumerate(pools)}
    fitting = sorted((c for c in candidates if c.fits), key=lambda c: (c.price_per_hour, order[c.pool]))
    if not fitting:
        return None
    best = fitting[0]
    pool = pools[order[best.pool]]
    # A candidate that fits was measured (_measured): every number is there.
    assert best.weights_gib_per_gpu is not None and best.kv_cache_gib_per_gpu is not None
    assert best.overhead_gib_per_gpu is not None and best.budget_gib_per_gpu is not None
    assert best.max_concurrent_sequences is not None and best.price_per_hour is not None
    return Plan(
        engine=evaluate.spec.engine.kind,
        pool=best.pool,
        gpu_product=best.gpu_product,
        gpu_memory_gi_b=_gib(evaluate.memory_bytes(pool)),
        tensor_parallel_size=best.tensor_parallel_size,
        gpus_per_replica=best.gpus_per_replica,
        expert_parallel=best.expert_parallel,
        mixture_of_experts=summary.mixture_of_experts,
        parameters=summary.parameters,
        weights_gi_b=summary.weights_gib,
        weights_gi_b_per_gpu=best.weights_gib_per_gpu,
        kv_cache_gi_b_per_gpu=best.kv_cache_gib_per_gpu,
        overhead_gi_b_per_gpu=best.overhead_gib_per_gpu,
        overheads=[PlanOverhead(name=o.name, gi_b=_gib(o.bytes), in_budget=o.in_budget, source=o.source)
                   for o in best.overheads],
        budget_gi_b_per_gpu=best.budget_gib_per_gpu,
        load_peak_gi_b_per_gpu=best.load_peak_gib_per_gpu,
        quantized_at_load=summary.quantized_at_load,
        prefill_tokens=summary.prefill_tokens,
        max_model_len=summary.max_model_len,
        sliding_window=summary.sliding_window,
        kv_tokens_per_sequence=summary.kv_tokens_per_sequence,
        kv_capacity_tokens=best.kv_capacity_tokens,
        max_concurrent_sequences=best.max_concurrent_sequences,
        price_per_hour=best.price_per_hour,
        node_selector=pool.selector(),
        node_share_cpu_millicores=_node_share(pool.node_cpu_millicores, best.gpus_per_replica, pool.gpus_per_node),
        node_share_memory_mi_b=_node_share(pool.node_memory_mi_b, best.gpus_per_replica, pool.gpus_per_node),
        reason=_choice_reason(best, fitting),
    )


def _node_share(allocatable: int | None, gpus_per_replica: int, gpus_per_node: int) -> int | None:
    """What of a node a replica may take: as much of its CPU or memory as of its GPUs, so the
    node's every GPU can hold a replica (a g6.xlarge has 4 vCPUs for its one L4)."""
    return None if allocatable is None else allocatable * gpus_per_replica // gpus_per_node


def _choice_reason(best: Candidate, fitting: list[Candidate]) -> str:
    where = f"TP {best.tensor_parallel_size} on {best.pool} ({best.gpu_product}), the smallest that fits: {best.reason}"
    if len(fitting) == 1:
        return f"{where}; ${best.price_per_hour:.2f}/h per replica, the only pool that fits"
    runner_up = fitting[1]
    return (f"{where}; ${best.price_per_hour:.2f}/h per replica, the cheapest of {len(fitting)} pools that fit "
            f"(next: {runner_up.pool} at ${runner_up.price_per_hour:.2f}/h)")


def _closest_per_pool(candidates: tuple[Candidate, ...]) -> list[Candidate]:
    """Each pool's last candidate: its largest TP tried, the one closest to fitting."""
    last: dict[str, Candidate] = {}
    for candidate in candidates:
        last[candidate.pool] = candidate
    return list(last.values())


def _summary(model: ModelConfig, tensors: tuple[TensorGroup, ...], workload: Workload) -> ModelSummary:
    counts = count_parameters(model)
    slots = workload.rules.kv_slots(workload.max_model_len, model.sliding_window)
    return ModelSummary(
        model_id=model.model_id,
        config_source=model.source,
        engine=workload.engine,
        quantization=workload.quantization,
        kv_cache_dtype=workload.stored_kv_cache_dtype,
        parameters=counts.total,
        active_parameters=counts.active,
        mixture_of_experts=model.mixture_of_experts,
        weights_gib=_gib(weight_bytes(tensors, model, workload.quantization)),
        kv_cache_bytes_per_token=kv_bytes_per_token(model, workload.stored_kv_cache_dtype),
        max_model_len=workload.max_model_len,
        max_concurrency=workload.max_concurrency,
        sliding_window=model.sliding_window,
        kv_tokens_per_sequence=slots.tokens,
        kv_rule=workload.rules.kv_source,
        kv_reckoning=slots.reckoning,
        prefill_tokens=workload.rules.prefill_tokens,
        quantized_at_load=workload.quantized_at_load,
    )
