"""Node pools from GPU Feature Discovery labels."""

from __future__ import annotations

from modelfleet.api import GPUPool
from modelfleet.controller.pools import pools_from_nodes

KEY = "modelfleet.io/pool"


def node(name, product=None, count=0, pool=None, memory=None):
    labels = {"kubernetes.io/hostname": name}
    if product:
        labels["nvidia.com/gpu.product"] = product
        labels["nvidia.com/gpu.count"] = str(count)
    if memory:
        labels["nvidia.com/gpu.memory"] = str(memory)
    if pool:
        labels[KEY] = pool
    allocatable = {"cpu": "32"} | ({"nvidia.com/gpu": str(count)} if count else {})
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": allocatable}}


def test_pools_group_by_the_pool_label():
    nodes = [
        node("h1", "NVIDIA-H100-80GB-HBM3", 8, "h100", 81559),
        node("h2", "NVIDIA-H100-80GB-HBM3", 8, "h100", 81559),
        node("l1", "NVIDIA-L4", 1, "l4", 23034),
        node("cpu"),
    ]
    pools = pools_from_nodes(nodes, KEY)
    assert [(p.name, p.gpu_product, p.gpus_per_node, p.nodes, p.gpu_memory_mi_b) for p in pools] == [
        ("h100", "NVIDIA-H100-80GB-HBM3", 8, 2, 81559),
        ("l4", "NVIDIA-L4", 1, 1, 23034),
    ]
    assert pools[0].node_selector == {KEY: "h100"}


def test_unlabelled_gpu_nodes_form_a_pool_per_product():
    pools = pools_from_nodes([node("a", "NVIDIA-A100-SXM4-80GB", 8)], KEY)
    assert pools[0].name == "nvidia-a100-sxm4-80gb"
    assert pools[0].node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}


def test_a_mixed_pool_is_sized_for_its_smallest_node():
    pools = pools_from_nodes([node("a", "NVIDIA-L4", 4, "l4"), node("b", "NVIDIA-L4", 2, "l4")], KEY)
    assert pools[0].gpus_per_node == 2


def test_declared_pools_appear_when_no_node_shows_them():
    declared = [
        GPUPool(name="h200", gpu_product="NVIDIA-H200", gpus_per_node=8),
        GPUPool(name="l4", gpu_product="NVIDIA-L4", gpus_per_node=8),
    ]
    pools = pools_from_nodes([node("l1", "NVIDIA-L4", 1, "l4")], KEY, declared)
    assert [(p.name, p.gpus_per_node, p.nodes) for p in pools] == [("h200", 8, None), ("l4", 1, 1)]


def test_nodes_without_allocatable_gpus_are_not_pools():
    gpu_less = node("x", "NVIDIA-L4", 0, "l4")
    assert pools_from_nodes([gpu_less], KEY) == []


def test_a_pool_knows_its_smallest_nodes_allocatable_cpu_and_memory():
    big, small = node("r1", "NVIDIA-L4", 4, "local"), node("r2", "NVIDIA-L4", 4, "local")
    big["status"]["allocatable"].update(cpu="2", memory="24479292Ki")
    small["status"]["allocatable"].update(cpu="1500m", memory="8Gi")
    (pool,) = pools_from_nodes([big, small], KEY)
    assert (pool.node_cpu_millicores, pool.node_memory_mi_b) == (1500, 8192)
    del small["status"]["allocatable"]["memory"]
    (pool,) = pools_from_nodes([big, small], KEY)
    assert pool.node_memory_mi_b is None, "a node that does not say is not assumed to be large"
