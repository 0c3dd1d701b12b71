"""The sizing table: the TP modelfleet chooses, next to the arithmetic lower bound and to TP = every GPU of the node.

Each case is one model × quantization × engine × GPU × context × concurrency,
planned on one pool of 8-GPU nodes with the catalog's prices. Columns:

- need @TP1: weights + KV cache + overhead on a single GPU, in GiB;
- bound: ceil(need @TP1 / budget) rounded up to a power of two, the fewest
  GPUs the memory alone could allow (the per-GPU overhead repeats on every
  GPU and the engine's divisibility rules apply, so the plan can be larger);
- chosen: modelfleet's plan (smallest valid TP that fits);
- all-GPUs: what "TP = every GPU on the node" deploys (KServe's and Kaito's
  default for a multi-GPU node), and the GPUs and dollars per replica-hour
  the plan saves against it.

The last line is the median time of one ``plan_deployment`` call, measured here
(never asserted in tests). Run: ``.venv/bin/python benchmarks/sizing/sizing_table.py``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from dataclasses import dataclass

from modelfleet.api import GPUPool, LLMDeploymentSpec
from modelfleet.api.quantity import GIB, MIB
from modelfleet.catalog import GPUInfo, ModelConfig, gpu_info, load_model_config
from modelfleet.engines.memory_rules import GPUMemory
from modelfleet.sizing import SizingResult, Workload, memory_need, model_tensors, plan_deployment

NODE_GPUS = 8
REPEATS = 20


@dataclass(frozen=True)
class Case:
    model: str
    quantization: str
    gpu: str
    max_model_len: int
    max_concurrency: int
    engine: str = "vllm"
    kv_cache_dtype: str = "auto"


CASES = [
    Case("mistralai/Mistral-7B-Instruct-v0.3", "none", "NVIDIA-L4", 8192, 8),
    Case("mistralai/Mistral-7B-Instruct-v0.3", "none", "NVIDIA-L4", 32768, 16),
    Case("mistralai/Mistral-7B-Instruct-v0.3", "fp8", "NVIDIA-L4", 32768, 16),
    Case("mistralai/Mistral-7B-Instruct-v0.2", "awq", "NVIDIA-A10G", 8192, 16),
    Case("mistralai/Mistral-7B-Instruct-v0.2", "bitsandbytes-4bit", "Tesla-T4", 4096, 8, engine="tgi"),
    # Mistral v0.1's 4096-token sliding window: vLLM keeps the window, TGI the whole context
    Case("mistralai/Mistral-7B-Instruct-v0.1", "none", "NVIDIA-H100-80GB-HBM3", 32768, 16),
    Case("mistralai/Mistral-7B-Instruct-v0.1", "none", "NVIDIA-H100-80GB-HBM3", 32768, 16, engine="tgi"),
    Case("mistralai/Mistral-7B-Instruct-v0.3", "none", "NVIDIA-H100-80GB-HBM3", 32768, 64),
    Case("mistralai/Mistral-7B-Instruct-v0.3", "none", "NVIDIA-H100-80GB-HBM3", 8192, 256, engine="tgi"),
    Case("mistralai/Mistral-7B-Instruct-v0.3", "none", "NVIDIA-B200", 32768, 128),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "none", "NVIDIA-H100-80GB-HBM3", 8192, 16),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "none", "NVIDIA-H100-80GB-HBM3", 32768, 32),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "fp8", "NVIDIA-H100-80GB-HBM3", 32768, 32),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "none", "NVIDIA-A100-SXM4-80GB", 32768, 8),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "none", "NVIDIA-A100-SXM4-80GB", 16384, 16, engine="tgi"),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "fp8", "NVIDIA-L40S", 16384, 16, kv_cache_dtype="fp8"),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "awq", "NVIDIA-L4", 8192, 8),
    Case("mistralai/Mixtral-8x7B-Instruct-v0.1", "gptq", "NVIDIA-A10G", 4096, 8),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "none", "NVIDIA-H100-80GB-HBM3", 65536, 16),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "fp8", "NVIDIA-H100-80GB-HBM3", 65536, 16, kv_cache_dtype="fp8"),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "none", "NVIDIA-H200", 32768, 16),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "fp8", "NVIDIA-B200", 65536, 32),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "none", "NVIDIA-A100-SXM4-80GB", 8192, 8),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "awq", "NVIDIA-L40S", 16384, 8),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "none", "NVIDIA-L40S", 8192, 4),
    Case("mistralai/Mixtral-8x22B-Instruct-v0.1", "fp8", "NVIDIA-A100-SXM4-80GB", 32768, 16, engine="tgi"),
]


def model_for(case: Case) -> ModelConfig:
    """The bundled config; for awq/gptq, as its pre-quantized (group 128) repository would declare it."""
    model = load_model_config(case.model)
    if case.quantization in ("awq", "gptq"):
        return dataclasses.replace(model, model_id=f"{model.model_id}-{case.quantization.upper()}",
                                   quantization=case.quantization, quantization_group_size=128)
    return model


def spec_for(case: Case, model: ModelConfig) -> LLMDeploymentSpec:
    return LLMDeploymentSpec.model_validate({
        "model": {"id": model.model_id, "quantization": case.quantization, "kvCacheDtype": case.kv_cache_dtype},
        "engine": {"kind": case.engine},
        "serving": {"maxModelLen": case.max_model_len, "maxConcurrency": case.max_concurrency},
    })


def lower_bound(case: Case, model: ModelConfig, gpu: GPUInfo, utilization: float) -> tuple[float, float, int]:
    """Memory need on one GPU, the engine's budget, and the power-of-two TP that memory alone would need."""
    workload = Workload(case.engine, case.quantization, case.kv_cache_dtype, case.max_model_len, case.max_concurrency,
                        quantized_at_load=case.quantization != "none" and model.quantization is None)
    memory = GPUMemory(gpu.memory_mib * MIB, gpu.cuda_total, gpu.cuda_total_source, gpu.compute_capability)
    need = memory_need(model_tensors(model), model, workload, 1, memory, utilization)
    return need.total, need.budget, 2 ** math.ceil(math.log2(max(1.0, math.ceil(need.total / need.budget))))


def timed_plan(spec: LLMDeploymentSpec, model: ModelConfig, pool: GPUPool, timings: list[float]) -> SizingResult:
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = plan_deployment(spec, model, [pool])
        timings.append(time.perf_counter() - start)
    return result


def row(case: Case, timings: list[float]) -> tuple[list[str], int, int]:
    model = model_for(case)
    gpu = gpu_info(case.gpu)
    pool = GPUPool(name=gpu.pool_name, gpu_product=gpu.product, gpus_per_node=NODE_GPUS)
    spec = spec_for(case, model)
    plan = timed_plan(spec, model, pool, timings).chosen
    need, budget, bound = lower_bound(case, model, gpu, spec.gpu.memory_utilization)
    chosen = plan.tensor_parallel_size if plan else None
    saved = NODE_GPUS - chosen if chosen else 0
    cells = [
        case.model.removeprefix("mistralai/"), case.quantization, case.kv_cache_dtype, case.engine, gpu.pool_name,
        f"{case.max_model_len} × {case.max_concurrency}", f"{need / GIB:.1f}", f"{budget / GIB:.1f}",
        str(bound) if bound <= NODE_GPUS else f"{bound} (> node)", str(chosen) if chosen else "does not fit",
        str(NODE_GPUS), str(saved) if chosen else "-",
        f"{plan.price_per_hour:.2f}" if plan else "-", f"{NODE_GPUS * gpu.price_per_gpu_hour:.2f}",
    ]
    return cells, chosen or 0, (NODE_GPUS if chosen else 0)


HEADER = ["model", "quant", "KV", "engine", "GPU", "context × seqs", "need @TP1 GiB", "budget GiB/GPU",
          "bound TP", "chosen TP", "all-GPUs TP", "GPUs saved", "$/h chosen", "$/h all-GPUs"]


def main() -> int:
    timings: list[float] = []
    rows, chosen_gpus, all_gpus = [], 0, 0
    for case in CASES:
        cells, chosen, everything = row(case, timings)
        rows.append(cells)
        chosen_gpus += chosen
        all_gpus += everything
    print("# Sizing table\n")
    print("Generated by `make bench-sizing` (benchmarks/sizing/sizing_table.py); see README.md for the columns.\n")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print()
    print(f"{len(CASES)} cases, memoryUtilization 0.9, 8-GPU nodes. Where a plan fits, modelfleet uses "
          f"{chosen_gpus} GPUs per replica in all against {all_gpus} for TP = every GPU of the node "
          f"({100 * (all_gpus - chosen_gpus) / all_gpus:.0f}% fewer).")
    print(f"plan_deployment: median {statistics.median(timings) * 1e3:.2f} ms per call "
          f"({len(timings)} calls, {sys.implementation.name} {sys.version.split()[0]}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
