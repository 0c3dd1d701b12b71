"""What an engine's memory rules answer, and the pieces each engine builds its answers from.

An engine splits a GPU's memory its own way: how large its budget is, how
many KV slots one sequence takes, which overheads it counts against the
budget and which it leaves to the memory outside it. Each engine module
writes those rules as functions of its own (``vllm.VllmMemory``,
``tgi.TgiMemory``), read in its pinned release's source and citing it;
``EngineMemory`` is what they answer. Sizing (``sizing.memory``) measures
the model (weights, KV bytes per token, one token's activations) and asks
the rules the rest, never which engine it is: a third engine's way of
counting is one more class with these methods, not a new field here or a
branch in sizing (``tests/unit/test_engine_memory_sglang.py`` shows one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from modelfleet.api.quantity import GIB

# Overheads per GPU that no config file gives: typical sizes on Ampere/Hopper. Each engine's rules say
# whether its budget counts them, and may use a figure of their own instead.
CUDA_CONTEXT_GIB = 0.5  # CUDA context (0.3-0.5 GiB) and NCCL buffers for TP > 1
NON_TORCH_GIB = 0.5  # cuBLAS/attention workspaces, caching-allocator fragmentation
CUDA_GRAPHS_GIB = 0.5  # decode graphs (vLLM logs 0.2-1 GiB for the capture)

CUDA_CONTEXT = "CUDA context and NCCL"
NON_TORCH = "non-torch workspaces"
CUDA_GRAPHS = "CUDA graphs"


@dataclass(frozen=True)
class Overhead:
    """Memory an engine holds per GPU besides weights and KV cache, and where that number comes from."""

    name: str
    bytes: float
    in_budget: bool  # the engine counts it against its budget (else it must fit in what the budget leaves)
    source: str
    margin: bool = False  # not memory the engine holds: room the plan keeps for what the data show varies


class EngineArgsError(ValueError):
    """Engine options (``spec.engine.extraArgs``) whose memory the rules cannot count, and why."""


@dataclass(frozen=True)
class GPUMemory:
    """One GPU's memory, counted two ways: what the node reports, and the total CUDA reports to the engine."""

    reported: float  # bytes: nvidia-smi memory.total, which GPU Feature Discovery labels nvidia.com/gpu.memory
    cuda_total: float  # bytes: cudaMemGetInfo's total (torch.cuda.mem_get_info), less what the driver keeps
    cuda_source: str = ""  # the log (or the derivation) the CUDA total comes from
    compute_capability: tuple[int, int] | None = None

    @classmethod
    def nominal(cls, total: float) -> GPUMemory:
        """A GPU whose CUDA total is taken to be ``total`` (tests, and callers that know no better)."""
        return cls(total, total, "the GPU's memory as given")


@dataclass(frozen=True)
class GPUShare:
    """What one GPU of a replica serves, as sizing measured it: the spec's workload and the model's bytes."""

    quantization: str
    max_model_len: int
    max_concurrency: int
    activation_bytes_per_token: float  # one token of a forward pass, on this GPU at its tensor-parallel size
    logit_bytes_per_sequence: int  # one sequence's float32 logits over the vocabulary
    tensor_parallel_size: int = 1
    vocab_size: int = 0
    hidden_size: int = 0
    num_layers: int = 0
    mixture_of_experts: bool = False
    weights: float = 0.0  # bytes of weights on this GPU
    gpu: GPUMemory | None = None


@dataclass(frozen=True)
class KVSlots:
    """The KV slots one sequence holds at most, and, when the engine keeps less than the whole context,
    how it got there (for ``modelfleet plan``)."""

    tokens: int
    reckoning: str = ""


class EngineMemory(Protocol):
    """One engine's memory rules at its pinned release; its module cites the code each answer follows."""

    @property
    def name(self) -> str: ...

    @property
    def prefill_tokens(self) -> int:
        """Tokens of the largest forward pass it profiles or warms up with; the renderer passes it."""

    @property
    def block_size(self) -> int:
        """Tokens per KV block: its KV cache holds whole blocks."""

    @property
    def budget_rule(self) -> str:
        """The budget as a person reads it, in the spec's words (gpu.memoryUtilization × GPU memory ...)."""

    @property
    def budget_source(self) -> str: ...

    @property
    def kv_source(self) -> str:
        """The code that says how many KV slots a sequence holds."""

    @property
    def quantizes_at_load(self) -> frozenset[str]:
        """Quantizations it makes from 16-bit weights while loading."""

    @property
    def load_source(self) -> str:
        """The code that says how it loads (and quantizes) weights, so what it peaks at meanwhile."""

    @property
    def unservable(self) -> Mapping[str, str]:
        """Quantizations it cannot serve at all, each with why (its source)."""

    def total(self, gpu: GPUMemory) -> float:
        """The bytes the engine takes for the GPU's whole memory: its budget starts from them, and what the
        budget leaves of them is where the overheads outside it must fit."""

    def budget(self, gpu_memory: float, memory_utilization: float) -> float:
        """Bytes of one GPU (``gpu_memory``: ``total``'s answer) the engine gives weights, KV cache and the
        overheads it counts."""

    def configured(self, engine_args: Sequence[str]) -> EngineMemory:
        """These rules for an engine started with ``engine_args`` besides the operator's (``spec.engine.extraArgs``):
        the options that change its memory, read the way its parser reads them. Raises ``EngineArgsError`` for
        one whose memory the rules cannot count."""

    def settings(self, share: GPUShare) -> tuple[str, ...]:
        """What the engine runs with that changes its memory, each with where the value comes from (for the
        plan a person reads)."""

    def kv_cache_dtype(self, spec_dtype: str) -> str:
        """The KV cache dtype the engine stores, in the spec's words (``auto``: the model's 16 bits; ``fp8``),
        given ``spec.model.kvCacheDtype`` and the options it was ``configured`` with."""

    @property
    def fixed_kv_cache(self) -> float | None:
        """Bytes of KV cache the engine is told to take outright (no budget), else None."""

    def kv_slots(self, max_model_len: int, sliding_window: int | None) -> KVSlots:
        """KV slots one sequence of ``max_model_len`` tokens holds at most in its cache."""

    def overheads(self, share: GPUShare) -> tuple[Overhead, ...]:
        """Each overhead on one GPU, inside or outside the budget as the engine counts it."""


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def whole_blocks(tokens: int, block_size: int) -> int:
    """``tokens`` KV slots in whole blocks: what a sequence of full attention holds."""
    return cdiv(tokens, block_size) * block_size


def activations(tokens: int, sequences: int, share: GPUShare, *, in_budget: bool, source: str) -> Overhead:
    """The activation peak of one forward pass of ``tokens`` tokens that samples ``sequences`` sequences."""
    return Overhead(
        f"activations of a {tokens}-token forward pass and {sequences} sequences' logits",
        tokens * share.activation_bytes_per_token + sequences * share.logit_bytes_per_sequence,
        in_budget,
        source,
    )


def cuda_context(*, in_budget: bool, source: str) -> Overhead:
    return Overhead(CUDA_CONTEXT, CUDA_CONTEXT_GIB * GIB, in_budget, source)


def non_torch(*, in_budget: bool, source: str) -> Overhead:
    return Overhead(NON_TORCH, NON_TORCH_GIB * GIB, in_budget, source)


def cuda_graphs(*, captured: bool, in_budget: bool, source: str) -> Overhead:
    return Overhead(CUDA_GRAPHS, CUDA_GRAPHS_GIB * GIB if captured else 0.0, in_budget, source)
