"""The GPU catalog: what sizing needs to know about each GPU model.

Keys are the product names NVIDIA GPU Feature Discovery puts in the
``nvidia.com/gpu.product`` label: the NVML device name with spaces turned
into dashes (``NVIDIA H100 80GB HBM3`` → ``NVIDIA-H100-80GB-HBM3``).

- ``memory_mib`` is ``nvidia-smi --query-gpu=memory.total``, the same number
  GFD publishes as ``nvidia.com/gpu.memory``; a pool's own label wins over it.
- ``bandwidth_gbps`` is NVIDIA's datasheet memory bandwidth (GB/s), for
  benchmarks and decode-speed estimates; sizing does not use it.
- ``cuda_total_gib`` is what CUDA reports as the GPU's total
  (``cudaMemGetInfo``, ``torch.cuda.mem_get_info()[1]``), less than
  nvidia-smi's figure by what the driver keeps; vLLM's budget starts from it.
  ``cuda_total_source`` is the published startup log it comes from
  (``benchmarks/sizing/gpu-logs/cases.yaml`` ``gpu_totals``), or, for a GPU
  no log names, says it is derived: the memory less the largest gap seen
  (``LARGEST_CUDA_GAP_GIB``), the conservative side.
- ``compute_capability`` decides what the engines can run: FP8 weights need
  8.0 or newer (Ampere runs them weight-only through FP8 Marlin kernels,
  Ada, Hopper and Blackwell in hardware; ``native_fp8`` says which).
- ``pool_name`` is the name ``modelfleet plan`` gives an 8-GPU pool of this
  GPU when no pools file is given, so specs that name pools the usual way
  (``h100``, ``a100-80gb``, ``l4``) plan without one.
- ``price_per_gpu_hour`` is a default for choosing between pools, in US
  dollars: a public cloud's on-demand list price for an instance divided by
  its GPUs, as listed on ``price_checked``. Real prices differ by region,
  contract and date: override them per GPU (``OperatorSettings.gpu_prices``)
  or per pool (``GPUPool.price_per_gpu_hour``).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import GPUPool
from modelfleet.api.quantity import GIB, MIB

# nvidia-smi's memory.total less CUDA's total, as logged (GiB): H100 80GB HBM3 0.46 (79.65 - 79.19),
# A100 40GB 0.51 (40.00 - 39.49), B200 0.71 (179.06 - 178.35), a 48 GB-class card the log does not name 0.47
# (44.99 - 44.52, vllm#14011), a 22 GB-class one 0.44 (22.49 - 22.05, pytorch#175666), RTX 3090 0.42
# (24.00 - 23.58, vllm#10517). A GPU no log names is taken at its memory less the largest.
LARGEST_CUDA_GAP_GIB = 0.71
DERIVED = f"no startup log names this GPU: its memory less {LARGEST_CUDA_GAP_GIB} GiB, the largest gap logged (B200)"


@dataclass(frozen=True)
class GPUInfo:
    product: str
    pool_name: str
    memory_mib: int
    bandwidth_gbps: int
    compute_capability: tuple[int, int]
    native_fp8: bool
    price_per_gpu_hour: float
    price_source: str
    price_checked: str
    cuda_total_gib: float | None = None  # None: no log names the GPU (``cuda_total`` derives it)
    cuda_total_source: str = DERIVED

    @property
    def memory_gib(self) -> float:
        return self.memory_mib * MIB / GIB

    @property
    def cuda_total(self) -> float:
        """Bytes CUDA reports as the GPU's total: the logged figure, else the memory less the largest gap."""
        if self.cuda_total_gib is not None:
            return self.cuda_total_gib * GIB
        return derived_cuda_total(self.memory_mib)

    def runs_fp8_weights(self) -> bool:
        return self.compute_capability >= (8, 0)


GPU_CATALOG: dict[str, GPUInfo] = {
    gpu.product: gpu
    for gpu in (
        GPUInfo(
            "Tesla-T4", "t4", 15360, 320, (7, 5), False,
            0.978, "AWS g4dn.12xlarge (4x T4) on-demand, us-east-1: $3.912/h / 4", "2025-06",
        ),
        GPUInfo(
            "NVIDIA-A10G", "a10g", 23028, 600, (8, 6), False,
            2.036, "AWS g5.48xlarge (8x A10G) on-demand, us-east-1: $16.288/h / 8", "2025-06",
        ),
        GPUInfo(
            "NVIDIA-L4", "l4", 23034, 300, (8, 9), True,
            1.669, "AWS g6.48xlarge (8x L4) on-demand, us-east-1: $13.3504/h / 8", "2025-06",
            None, f"{DERIVED}; a 22 GB-class card of vLLM's CI, not named, logs 22.05 GiB "
                  "(https://github.com/pytorch/pytorch/issues/175666)",
        ),
        GPUInfo(
            "NVIDIA-L40S", "l40s", 46068, 864, (8, 9), True,
            3.766, "AWS g6e.48xlarge (8x L40S) on-demand, us-east-1: $30.1312/h / 8", "2025-06",
            None, f"{DERIVED}; a 48 GB-class card, not named, logs 44.52 GiB "
                  "(https://github.com/vllm-project/vllm/issues/14011)",
        ),
        GPUInfo(
            "NVIDIA-A100-SXM4-40GB", "a100-40gb", 40960, 1555, (8, 0), False,
            2.745, "AWS p4d.24xlarge (8x A100 40GB) on-demand, us-east-1, after the June 2025 cut: $21.96/h / 8",
            "2025-06",
            39.49, "an A100 at util 0.92 requests 36.33 GiB, so 39.49 in all "
                   "(https://github.com/ovg-project/kvcached/pull/448, cases c30, c31)",
        ),
        GPUInfo(
            "NVIDIA-A100-SXM4-80GB", "a100-80gb", 81920, 2039, (8, 0), False,
            3.431, "AWS p4de.24xlarge (8x A100 80GB) on-demand, us-east-1, after the June 2025 cut: $27.447/h / 8",
            "2025-06",
        ),
        GPUInfo(
            "NVIDIA-A100-80GB-PCIe", "a100-80gb-pcie", 81920, 1935, (8, 0), False,
            3.673, "Azure NC24ads A100 v4 (1x A100 80GB PCIe) pay-as-you-go, East US: $3.673/h", "2025-06",
        ),
        GPUInfo(
            "NVIDIA-H100-80GB-HBM3", "h100", 81559, 3350, (9, 0), True,
            6.88, "AWS p5.48xlarge (8x H100 SXM) on-demand, us-east-1, after the June 2025 cut: $55.04/h / 8",
            "2025-06",
            79.19, "issue 25's H100 80GB HBM3 logs, the lowest seen; 79.22 in "
                   "https://github.com/vllm-project/vllm/pull/10511 and /pull/12126 (cases c01-c03)",
        ),
        GPUInfo(
            "NVIDIA-H100-NVL", "h100-nvl", 95830, 3900, (9, 0), True,
            6.98, "Azure NC40ads H100 v5 (1x H100 NVL) pay-as-you-go, East US: $6.98/h", "2025-06",
        ),
        GPUInfo(
            "NVIDIA-H200", "h200", 143771, 4800, (9, 0), True,
            7.912, "AWS p5en.48xlarge (8x H200) on-demand, us-east-1, after the June 2025 cut: $63.296/h / 8",
            "2025-06",
        ),
        GPUInfo(
            "NVIDIA-B200", "b200", 183359, 8000, (10, 0), True,
            14.242, "AWS p6-b200.48xlarge (8x B200) on-demand, us-east-1: $113.9328/h / 8", "2025-06",
            178.35, "B200 at util 0.92 requests 164.08 GiB (https://github.com/vllm-project/vllm/issues/57936, "
                    "case c28); torch reads 178.35 (https://github.com/unslothai/unsloth/issues/3411)",
        ),
    )
}


def derived_cuda_total(memory_mib: float) -> float:
    """Bytes CUDA reports for a GPU of ``memory_mib`` (nvidia-smi) that no log names: the conservative side."""
    return memory_mib * MIB - LARGEST_CUDA_GAP_GIB * GIB


def cuda_total(product: str, memory_mib: float | None) -> tuple[float, str]:
    """CUDA's total for a GPU of ``product`` reporting ``memory_mib`` (a pool's label, None: the catalog's), and
    where the figure comes from. A label other than the catalog's (a MIG slice, another variant) is derived."""
    gpu = gpu_info(product)
    if gpu is not None and memory_mib in (None, gpu.memory_mib):
        return gpu.cuda_total, gpu.cuda_total_source
    if memory_mib is None:
        raise ValueError(f"GPU {product} is not in the catalog and no memory is given")
    return derived_cuda_total(memory_mib), f"{DERIVED} (the pool's {memory_mib} MiB)"


def gpu_info(product: str) -> GPUInfo | None:
    """The catalog entry for a GFD product name, or None for a GPU the catalog does not know."""
    return GPU_CATALOG.get(product)


def default_pools(gpus_per_node: int = 8) -> list[GPUPool]:
    """One pool of ``gpus_per_node``-GPU nodes per catalog GPU, for planning without a cluster."""
    return [
        GPUPool(name=gpu.pool_name, gpu_product=gpu.product, gpus_per_node=gpus_per_node)
        for gpu in GPU_CATALOG.values()
    ]
