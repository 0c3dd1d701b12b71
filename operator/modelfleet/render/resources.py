"""CPU, host memory and shared memory of an engine pod, sized from the plan.

Host memory (request):

    SERVER_MEMORY_GIB + per GPU rank (RANK_RUNTIME_MEMORY_GIB + min(SHARD_STAGING_GIB, weights per GPU))

- ``SERVER_MEMORY_GIB`` = 4: the HTTP server, tokenizer and scheduler
  process (vLLM's API server and engine core, TGI's router and launcher).
- ``RANK_RUNTIME_MEMORY_GIB`` = 3: each GPU worker process holds a CUDA
  context, PyTorch and NCCL buffers in host memory.
- ``SHARD_STAGING_GIB`` = 5: a rank reads its weights one safetensors file at
  a time through host memory on its way to the GPU; Hugging Face repos split
  weights into files of at most 5 GB. The page cache the reads fill is
  reclaimable, so it needs no room of its own.

The memory limit is the request plus the ``/dev/shm`` volume: a memory-backed
emptyDir is charged to the pod, and NCCL (tensor parallelism) and vLLM's
worker message queues live there, ``SHM_GIB_PER_GPU`` per GPU. A limit at all
keeps a leak from taking the node.

CPU: ``SERVER_CPUS`` + ``RANK_CPUS`` per GPU, requested and not limited: the
scheduler loop and the workers busy-poll, and a CFS quota would throttle
them mid-batch, which shows up as latency spikes.

Neither request exceeds the replica's share of its node (``plan.node_share_*``:
the node's allocatable CPU and memory times the replica's GPUs over the
node's), or a node with few CPUs per GPU could never hold a replica on each of
its GPUs, or none at all (the kubelet refuses a pod it cannot hold).
"""

from __future__ import annotations

import math
from typing import Any

from modelfleet.api import Plan

SERVER_MEMORY_GIB = 4
RANK_RUNTIME_MEMORY_GIB = 3
SHARD_STAGING_GIB = 5
SHM_GIB_PER_GPU = 1
SERVER_CPUS = 2
RANK_CPUS = 2


def memory_request_mib(plan: Plan) -> int:
    per_rank = RANK_RUNTIME_MEMORY_GIB + min(SHARD_STAGING_GIB, plan.weights_gi_b_per_gpu)
    wanted = math.ceil(SERVER_MEMORY_GIB + plan.tensor_parallel_size * per_rank) * 1024
    return _within_share(wanted, plan.node_share_memory_mi_b)


def cpu_request_millicores(plan: Plan) -> int:
    wanted = (SERVER_CPUS + RANK_CPUS * plan.tensor_parallel_size) * 1000
    return _within_share(wanted, plan.node_share_cpu_millicores)


def _within_share(wanted: int, share: int | None) -> int:
    return wanted if share is None else min(wanted, share)


def _cpu(millicores: int) -> str:
    """Whole cores where they divide (4), else millicores (500m)."""
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def _memory(mib: int) -> str:
    """Whole GiB where they divide (12Gi), else MiB (5976Mi)."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def shm_gib(plan: Plan) -> int:
    return SHM_GIB_PER_GPU * plan.gpus_per_replica


def engine_resources(plan: Plan, ephemeral_storage: str | None) -> dict[str, Any]:
    """Requests and limits of the engine container.

    ``ephemeral_storage`` is the emptyDir cache's size when the cache lives on
    the node's disk (mode none), so the scheduler only picks nodes with room.
    """
    gpus = str(plan.gpus_per_replica)
    memory = memory_request_mib(plan)
    requests = {
        "cpu": _cpu(cpu_request_millicores(plan)),
        "memory": _memory(memory),
        "nvidia.com/gpu": gpus,
    }
    if ephemeral_storage is not None:
        requests["ephemeral-storage"] = ephemeral_storage
    limits = {"memory": _memory(memory + shm_gib(plan) * 1024), "nvidia.com/gpu": gpus}
    return {"requests": requests, "limits": limits}
