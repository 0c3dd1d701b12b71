"""The GPU catalog: what sizing needs to know about each GPU model.

Keys are the product names NVIDIA GPU Feature Discovery puts in the
``nvidia.com/gpu.product`` label: the NVML device name with spaces turned
into dashes (``NVIDIA H100 80GB HBM3`` → ``NVIDIA-H100-80GB-HBM3``).

- ``memory_mib`` is ``nvidia-smi --query-gpu=memory.total``, the same number
  GFD publishes as ``nvidia.com/gpu.memory``; a pool's own label wins over it.
- ``bandwidth_gbps`` is NVIDIA's datasheet memory bandwidth (GB/s), for
  benchmarks and decode-speed estimates; sizing does not use it.
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

    @property
    def memory_gib(self) -> float:
        return self.memory_mib * MIB / GIB

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
        ),
        GPUInfo(
            "NVIDIA-L40S", "l40s", 46068, 864, (8, 9), True,
            3.766, "AWS g6e.48xlarge (8x L40S) on-demand, us-east-1: $30.1312/h / 8", "2025-06",
        ),
        GPUInfo(
            "NVIDIA-A100-SXM4-40GB", "a100-40gb", 40960, 1555, (8, 0), False,
            2.745, "AWS p4d.24xlarge (8x A100 40GB) on-demand, us-east-1, after the June 2025 cut: $21.96/h / 8",
            "2025-06",
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
        ),
    )
}


def gpu_info(product: str) -> GPUInfo | None:
    """The catalog entry for a GFD product name, or None for a GPU the catalog does not know."""
    return GPU_CATALOG.get(product)


def default_pools(gpus_per_node: int = 8) -> list[GPUPool]:
    """One pool of ``gpus_per_node``-GPU nodes per catalog GPU, for planning without a cluster."""
    return [
        GPUPool(name=gpu.pool_name, gpu_product=gpu.product, gpus_per_node=gpus_per_node)
        for gpu in GPU_CATALOG.values()
    ]
