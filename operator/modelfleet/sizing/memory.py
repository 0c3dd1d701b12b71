"""The memory one GPU of a replica needs at a tensor-parallel size, and the rule that says it fits.

Per GPU: weights (each tensor split as ``parameters.Split`` says) + the KV
cache of ``maxConcurrency`` sequences + the overheads the engine counts
against its budget must stay within the engine's budget; the overheads the
engine keeps outside its budget must fit in the memory it leaves free.
Here is what the model says: bytes of weights, of KV cache per token, of
one token's activations. The engine's memory rules (its profile's
``memory``: ``engines.memory_rules.EngineMemory``) say the rest, each
citing the engine's code: its budget (vLLM ``total ×
gpu-memory-utilization``, TGI ``total × cuda-memory-fraction × 0.90``, both
engines told ``gpu.memoryUtilization``), the KV slots a sequence holds (vLLM
keeps only the window, plus the tokens in flight, of a sliding-window model
such as Mistral-7B v0.1; TGI the whole context), and each overhead in or out
of the budget.

KV cache per token = 2 (K and V) × layers × KV heads × head dim × KV dtype
bytes (2 for auto, the model's 16-bit dtype; 1 for fp8). Across TP, each GPU
holds max(1, KV heads // TP) heads: vLLM replicates a KV head when TP exceeds
the KV heads.

Activations of one token of the largest forward pass (the engine says how
many tokens: vLLM ``--max-num-batched-tokens``, TGI
``--max-batch-prefill-tokens``, both rendered): 2 bytes × (4 × hidden
[residual stream, normed input, attention and MLP outputs] + (heads + 2 × KV
heads) / TP × head dim [q, k, v] + 3 × intermediate / TP × experts per token
[gate, up, their product]); and float32 logits over the vocabulary for every
sequence the engine samples in that pass (the engine says how many).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from modelfleet.api.quantity import GIB
from modelfleet.api.spec import EngineKind
from modelfleet.catalog import ModelConfig
from modelfleet.engines import profile_for
from modelfleet.engines.memory_rules import EngineMemory, GPUMemory, GPUShare, Overhead

from .parameters import TensorGroup
from .quantization import UNQUANTIZED_BYTES, tensor_bytes

ACTIVATION_BYTES = 2
LOGIT_BYTES = 4
KV_CACHE_BYTES = {"auto": UNQUANTIZED_BYTES, "fp8": 1}


def engine_memory(kind: EngineKind) -> EngineMemory:
    """The memory rules of the ``kind`` engine's profile."""
    return profile_for(kind).memory


@dataclass(frozen=True)
class Workload:
    """What one replica must hold: the engine, quantization, context and concurrency of the spec, and the
    options the engine is started with besides the operator's (``spec.engine.extraArgs``)."""

    engine: EngineKind
    quantization: str
    kv_cache_dtype: str  # spec.model.kvCacheDtype
    max_model_len: int
    max_concurrency: int
    quantized_at_load: bool = False  # 16-bit weights the engine quantizes while loading
    engine_args: tuple[str, ...] = ()

    @cached_property
    def rules(self) -> EngineMemory:
        """The engine's memory rules for the options it runs with (``EngineMemory.configured``)."""
        return engine_memory(self.engine).configured(self.engine_args)

    @property
    def stored_kv_cache_dtype(self) -> str:
        """The KV cache dtype the engine stores: the spec's, unless ``extraArgs`` set the engine's own."""
        return self.rules.kv_cache_dtype(self.kv_cache_dtype)


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes per GPU at one tensor-parallel size, against the engine's budget."""

    weights: float
    kv_cache: float  # for max_concurrency sequences
    overheads: tuple[Overhead, ...]
    budget: float
    gpu_memory: float
    kv_per_token: int
    kv_tokens_per_sequence: int  # the engine's rule: the window for vLLM's sliding-window layers
    load_peak: float  # weights while loading (higher when the engine quantizes at load)
    block_size: int = 1  # the engine's KV block, in tokens
    fixed_kv_cache: float | None = None  # a KV cache the engine is told to take outright, without a budget
    settings: tuple[str, ...] = ()  # what the engine runs with that changes memory (EngineMemory.settings)
    gpu_memory_source: str = ""  # where gpu_memory, the total the engine counts, comes from

    @property
    def kv_per_sequence(self) -> float:
        return self.kv_per_token * self.kv_tokens_per_sequence

    @property
    def overhead(self) -> float:
        """What the engine counts against its budget besides weights and KV."""
        return sum(o.bytes for o in self.overheads if o.in_budget)

    @property
    def outside_budget(self) -> float:
        return sum(o.bytes for o in self.overheads if not o.in_budget)

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.overhead

    @property
    def margin(self) -> float:
        """The part of ``overhead`` that is a safety margin, not memory the engine holds."""
        return sum(o.bytes for o in self.overheads if o.in_budget and o.margin)

    @property
    def kv_room(self) -> float:
        """Bytes the engine gives its KV cache: the budget once weights and overheads are in (or the size it is
        told to take)."""
        if self.fixed_kv_cache is not None:
            return self.fixed_kv_cache
        return max(0.0, self.budget - self.weights - self.overhead)

    @property
    def kv_capacity_tokens(self) -> int:
        """Token slots the KV cache holds (what vLLM reports as num_gpu_blocks × block_size)."""
        return kv_capacity_tokens(self.kv_room, self.kv_per_token, self.block_size)

    @property
    def max_sequences(self) -> int:
        """Sequences of max_model_len tokens the budget holds once weights and overhead are in."""
        return math.floor(self.kv_room / self.kv_per_sequence)

    def problems(self) -> list[str]:
        """What does not fit besides the KV cache: the engine's own free memory, the load peak."""
        found = []
        if self.fixed_kv_cache is not None:
            held = self.weights + self.fixed_kv_cache + self.overhead + self.outside_budget
            if held > self.gpu_memory:
                found.append(f"weights, the {self.fixed_kv_cache / GIB:.1f} GiB KV cache extraArgs ask for and the "
                             f"overheads ({held / GIB:.1f} GiB) do not fit in the GPU's {self.gpu_memory / GIB:.1f} "
                             "GiB (a KV cache set outright ignores gpu.memoryUtilization)")
            return found
        left = self.gpu_memory - self.budget
        if self.outside_budget > left:
            names = " + ".join(o.name for o in self.overheads if not o.in_budget)
            found.append(f"{names} ({self.outside_budget / GIB:.1f} GiB) do not fit in the "
                         f"{left / GIB:.1f} GiB the budget leaves free: lower gpu.memoryUtilization")
        if self.load_peak > self.budget:
            found.append(f"loading peaks at {self.load_peak / GIB:.1f} GiB per GPU (16-bit layers quantized "
                         f"while loading), over the {self.budget / GIB:.1f} GiB budget")
        return found


def shard_divisor(tensor: TensorGroup, tp: int, kv_heads: int) -> int:
    """Into how many parts TP cuts the tensor; each GPU holds one."""
    if tensor.split == "tp":
        return tp
    if tensor.split == "kv":
        return min(tp, kv_heads)
    return 1


def weight_bytes(tensors: tuple[TensorGroup, ...], model: ModelConfig, quantization: str) -> int:
    return sum(tensor_bytes(t, quantization, model.quantization_group_size) for t in tensors)


def weight_bytes_per_gpu(tensors: tuple[TensorGroup, ...], model: ModelConfig, quantization: str, tp: int) -> float:
    return sum(
        tensor_bytes(t, quantization, model.quantization_group_size) / shard_divisor(t, tp, model.num_kv_heads)
        for t in tensors
    )


def kv_heads_per_gpu(model: ModelConfig, tp: int) -> int:
    return max(1, model.num_kv_heads // tp)


def kv_bytes_per_token(model: ModelConfig, kv_cache_dtype: str, tp: int = 1) -> int:
    """KV cache bytes one token takes on each GPU at ``tp`` (the whole replica's at tp 1)."""
    return 2 * model.num_layers * kv_heads_per_gpu(model, tp) * model.head_dim * KV_CACHE_BYTES[kv_cache_dtype]


def kv_capacity_tokens(kv_bytes: float, kv_per_token: int, block_size: int) -> int:
    """Token slots ``kv_bytes`` of KV cache hold, in whole blocks: vLLM divides its KV memory by the page
    size of all layers (vllm/v1/core/kv_cache_utils.py get_kv_cache_config_from_groups)."""
    return math.floor(kv_bytes / (kv_per_token * block_size)) * block_size


def prefill_tokens(engine: EngineKind) -> int:
    """Tokens in the largest forward pass the engine runs, the value the renderer passes it."""
    return engine_memory(engine).prefill_tokens


def activation_bytes_per_token(model: ModelConfig, tp: int) -> float:
    """One token of a forward pass on one GPU at ``tp`` (the module docstring says what it holds)."""
    qkv = (model.num_attention_heads / tp + 2 * kv_heads_per_gpu(model, tp)) * model.head_dim
    mlp = 3 * model.intermediate_size / tp * max(1, model.experts_per_token)
    return ACTIVATION_BYTES * (4 * model.hidden_size + qkv + mlp)


def gpu_share(model: ModelConfig, workload: Workload, tp: int, weights: float = 0.0,
              gpu: GPUMemory | None = None) -> GPUShare:
    """What one GPU at ``tp`` serves, for the engine's rules to count."""
    return GPUShare(
        quantization=workload.quantization,
        max_model_len=workload.max_model_len,
        max_concurrency=workload.max_concurrency,
        activation_bytes_per_token=activation_bytes_per_token(model, tp),
        logit_bytes_per_sequence=model.vocab_size * LOGIT_BYTES,
        tensor_parallel_size=tp,
        vocab_size=model.vocab_size,
        hidden_size=model.hidden_size,
        num_layers=model.num_layers,
        mixture_of_experts=model.mixture_of_experts,
        weights=weights,
        gpu=gpu,
    )


def decoder_layer_bytes_per_gpu(tensors: tuple[TensorGroup, ...], model: ModelConfig, tp: int) -> float:
    """One decoder layer's projections in 16 bits on one GPU: what loading holds before quantizing them."""
    per_layer = [t for t in tensors if t.kind == "linear"]
    return sum(tensor_bytes(t, "none") / t.count / shard_divisor(t, tp, model.num_kv_heads)
               * (t.count // model.num_layers) for t in per_layer)


def load_peak_bytes(tensors: tuple[TensorGroup, ...], model: ModelConfig, workload: Workload, tp: int) -> float:
    """Weights per GPU while loading: both engines quantize at load layer by layer (``load_source``),
    so the peak is the quantized weights plus one layer still in 16 bits."""
    weights = weight_bytes_per_gpu(tensors, model, workload.quantization, tp)
    if not workload.quantized_at_load:
        return weights
    return weights + decoder_layer_bytes_per_gpu(tensors, model, tp)


def memory_need(
    tensors: tuple[TensorGroup, ...], model: ModelConfig, workload: Workload, tp: int,
    gpu_memory: GPUMemory | float, memory_utilization: float,
) -> MemoryNeed:
    """One GPU at ``tp``; ``gpu_memory`` is the GPU (a bare number of bytes: a GPU whose CUDA total is that)."""
    rules = workload.rules
    gpu = gpu_memory if isinstance(gpu_memory, GPUMemory) else GPUMemory.nominal(gpu_memory)
    total = rules.total(gpu)
    per_sequence = rules.kv_slots(workload.max_model_len, model.sliding_window).tokens
    per_token = kv_bytes_per_token(model, workload.stored_kv_cache_dtype, tp)
    weights = weight_bytes_per_gpu(tensors, model, workload.quantization, tp)
    share = gpu_share(model, workload, tp, weights, gpu)
    return MemoryNeed(
        weights=weights,
        kv_cache=float(per_token * per_sequence * workload.max_concurrency),
        overheads=rules.overheads(share),
        budget=rules.budget(total, memory_utilization),
        gpu_memory=total,
        kv_per_token=per_token,
        kv_tokens_per_sequence=per_sequence,
        load_peak=load_peak_bytes(tensors, model, workload, tp),
        block_size=rules.block_size,
        fixed_kv_cache=rules.fixed_kv_cache,
        settings=rules.settings(share),
        gpu_memory_source=gpu.cuda_source if total == gpu.cuda_total else "the GPU's memory as the node reports it",
    )
