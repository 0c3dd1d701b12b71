"""GPU node pools as the cluster shows them (pure: nodes in, pools out).

Nodes carry GPU Feature Discovery labels (``nvidia.com/gpu.product``,
``nvidia.com/gpu.memory`` in MiB, ``nvidia.com/gpu.count``) and a pool label
(``modelfleet.io/pool`` by default). A GPU node without the pool label forms a
pool per GPU product, selected by the product label. Pools declared in the
operator's settings (node groups that scale from zero) are added when no node
shows them yet.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from modelfleet.api import GPUPool

PRODUCT_LABEL = "nvidia.com/gpu.product"
MEMORY_LABEL = "nvidia.com/gpu.memory"
COUNT_LABEL = "nvidia.com/gpu.count"
GPU_RESOURCE = "nvidia.com/gpu"


def pools_from_nodes(
    nodes: Iterable[dict[str, Any]], pool_label_key: str, declared: Sequence[GPUPool] = ()
) -> list[GPUPool]:
    """The pools, sorted by name: discovered ones, then declared ones not seen."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        labels = node.get("metadata", {}).get("labels") or {}
        product = labels.get(PRODUCT_LABEL)
        if not product or _gpus(node) == 0:
            continue
        pool_name = labels.get(pool_label_key)
        if pool_name:
            groups[(_slug(pool_name), pool_label_key, pool_name)].append(node)
        else:
            groups[(_slug(product), PRODUCT_LABEL, product)].append(node)
    discovered = {name: _pool(name, {key: value}, members) for (name, key, value), members in groups.items()}
    declared_only = {p.name: p for p in declared if p.name not in discovered}
    pools = {**declared_only, **discovered}
    return [pools[name] for name in sorted(pools)]


def _pool(name: str, selector: dict[str, str], nodes: list[dict[str, Any]]) -> GPUPool:
    labels = nodes[0]["metadata"]["labels"]
    memory = labels.get(MEMORY_LABEL)
    return GPUPool(
        name=name,
        gpu_product=labels[PRODUCT_LABEL],
        # A pool of mixed nodes is sized for its smallest node: a replica must fit on any of them.
        gpus_per_node=min(_gpus(n) for n in nodes),
        gpu_memory_mi_b=int(memory) if memory and memory.isdigit() else None,
        node_selector=selector,
        nodes=len(nodes),
        node_cpu_millicores=_smallest(nodes, "cpu", lambda cores: cores * 1000),
        node_memory_mi_b=_smallest(nodes, "memory", lambda size: size / 2**20),
    )


def _smallest(nodes: list[dict[str, Any]], resource: str, unit: Callable[[Decimal], Decimal]) -> int | None:
    """The smallest allocatable `resource` among `nodes` in whole `unit`s; None if any node lacks it."""
    values = []
    for node in nodes:
        quantity = ((node.get("status") or {}).get("allocatable") or {}).get(resource)
        if quantity is None:
            return None
        values.append(int(unit(parse_quantity(quantity))))
    return min(values) or None


def _gpus(node: dict[str, Any]) -> int:
    labels = node.get("metadata", {}).get("labels") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    value = allocatable.get(GPU_RESOURCE) or labels.get(COUNT_LABEL) or 0
    try:
        return int(value)
    except ValueError:
        return 0


def _slug(product: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", product.lower()).strip("-")[:63]
