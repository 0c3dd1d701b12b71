"""The memory one GPU of a replica needs at a tensor-parallel size, and the rule that says it fits.

Per GPU: weights (each tensor split as ``parameters.Split`` says) + the KV
cache of ``maxConcurrency`` sequences of ``maxModelLen`` tokens + a runtime
overhead must stay within the GPU's memory × ``memoryUtilization``, the
fraction both engines are told they may use (vLLM
``--gpu-memory-utilization``, TGI ``--cuda-memory-fraction``).

KV cache per token = 2 (K and V) × layers × KV heads × head dim × KV dtype
bytes (2 for auto, the model's 16-bit dtype; 1 for fp8). Across TP, each GPU
holds max(1, KV heads // TP) heads: vLLM replicates a KV head when TP exceeds
the KV heads. Sliding-window attention (Mistral-7B v0.1) is sized as full
attention: conservative, since an engine may keep only the window.

The overhead, per GPU, is what the engine holds besides weights and KV cache,
the way vLLM measures it in its profiling run before it sizes its KV cache:

- RUNTIME_GIB (1.0): the CUDA context (0.3–0.5 GiB on Ampere/Hopper),
  cuBLAS/cuBLASLt workspaces, NCCL buffers for TP > 1, and the caching
  allocator's fragmentation.
- CUDA_GRAPHS_GIB (0.5): decode steps are captured as CUDA graphs for batch
  sizes up to the concurrency (vLLM logs 0.2–1 GiB for the capture).
- Activations of the largest forward pass: ``prefill_tokens`` tokens at once,
  2 bytes × (4 × hidden [residual stream, normed input, attention and MLP
  outputs] + (heads + 2 × KV heads) / TP × head dim [q, k, v] + 3 ×
  intermediate / TP × experts per token [gate, up, their product]) per token,
  plus float32 logits over the vocabulary for every sequence sampled in a
  step. vLLM prefills in chunks of ``--max-num-batched-tokens``
  (VLLM_PREFILL_TOKENS, which the renderer should pass so the engine uses
  what was sized); TGI prefills a whole prompt (``--max-batch-prefill-tokens``
  defaults to the longest input), so maxModelLen tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modelfleet.api.spec import EngineKind
from modelfleet.catalog import GIB, ModelConfig

from .parameters import TensorGroup
from .quantization import UNQUANTIZED_BYTES, tensor_bytes

RUNTIME_GIB = 1.0
CUDA_GRAPHS_GIB = 0.5
VLLM_PREFILL_TOKENS = 8192
ACTIVATION_BYTES = 2
LOGIT_BYTES = 4
KV_CACHE_BYTES = {"auto": UNQUANTIZED_BYTES, "fp8": 1}


@dataclass(frozen=True)
class Workload:
    """What one replica must hold: the engine, quantization, context and concurrency of the spec."""

    engine: EngineKind
    quantization: str
    kv_cache_dtype: str
    max_model_len: int
    max_concurrency: int


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes per GPU at one tensor-parallel size, against the GPU's budget."""

    weights: float
    kv_cache: float  # for max_concurrency sequences of max_model_len tokens
    overhead: float
    budget: float
    kv_per_sequence: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.overhead

    @property
    def max_sequences(self) -> int:
        """Sequences of max_model_len tokens the budget holds once weights and overhead are in."""
        free = self.budget - self.weights - self.overhead
        return max(0, math.floor(free / self.kv_per_sequence)) if free > 0 else 0


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


def prefill_tokens(engine: EngineKind, max_model_len: int) -> int:
    """Tokens in the largest forward pass the engine runs (see the module docstring)."""
    return VLLM_PREFILL_TOKENS if engine == "vllm" else max_model_len


def overhead_bytes(model: ModelConfig, workload: Workload, tp: int) -> float:
    qkv = (model.num_attention_heads / tp + 2 * kv_heads_per_gpu(model, tp)) * model.head_dim
    mlp = 3 * model.intermediate_size / tp * max(1, model.experts_per_token)
    per_token = ACTIVATION_BYTES * (4 * model.hidden_size + qkv + mlp)
    activations = prefill_tokens(workload.engine, workload.max_model_len) * per_token
    logits = workload.max_concurrency * model.vocab_size * LOGIT_BYTES
    return (RUNTIME_GIB + CUDA_GRAPHS_GIB) * GIB + activations + logits


def memory_need(
    tensors: tuple[TensorGroup, ...], model: ModelConfig, workload: Workload, tp: int, budget: float
) -> MemoryNeed:
    kv_per_sequence = kv_bytes_per_token(model, workload.kv_cache_dtype, tp) * workload.max_model_len
    return MemoryNeed(
        weights=weight_bytes_per_gpu(tensors, model, workload.quantization, tp),
        kv_cache=kv_per_sequence * workload.max_concurrency,
        overhead=overhead_bytes(model, workload, tp),
        budget=budget,
        kv_per_sequence=kv_per_sequence,
    )
