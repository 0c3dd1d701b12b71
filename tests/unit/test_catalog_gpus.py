"""The GPU catalog: GFD product names, memory, fp8, prices with their sources."""

from __future__ import annotations

import re

import pytest

from modelfleet.catalog import GPU_CATALOG, default_pools, gpu_info


@pytest.mark.parametrize(
    "product, memory_mib",
    [
        # The GFD labels of the local control plane's nodes (e2e/local/nodes.yaml).
        ("NVIDIA-H100-80GB-HBM3", 81559),
        ("NVIDIA-A100-SXM4-80GB", 81920),
        ("NVIDIA-L4", 23034),
        ("Tesla-T4", 15360),
    ],
)
def test_memory_is_what_gpu_feature_discovery_reports(product, memory_mib):
    assert gpu_info(product).memory_mib == memory_mib


def test_products_are_gfd_names_without_spaces():
    for product in GPU_CATALOG:
        assert re.fullmatch(r"(NVIDIA|Tesla)-[A-Za-z0-9-]+", product), product


def test_fp8_hardware_is_ada_or_newer_and_fp8_weights_need_ampere():
    assert [p for p, g in GPU_CATALOG.items() if g.native_fp8] == [
        p for p, g in GPU_CATALOG.items() if g.compute_capability >= (8, 9)
    ]
    assert gpu_info("NVIDIA-A100-SXM4-80GB").runs_fp8_weights()
    assert not gpu_info("Tesla-T4").runs_fp8_weights()


def test_every_price_says_where_it_comes_from_and_when():
    for gpu in GPU_CATALOG.values():
        assert gpu.price_per_gpu_hour > 0
        assert "$" in gpu.price_source and "/h" in gpu.price_source
        assert re.fullmatch(r"\d{4}-\d{2}", gpu.price_checked)


def test_unknown_product_has_no_entry():
    assert gpu_info("NVIDIA-GeForce-RTX-4090") is None


def test_default_pools_are_eight_gpu_nodes_of_every_catalog_gpu_under_short_names():
    pools = default_pools()
    assert [p.gpu_product for p in pools] == list(GPU_CATALOG)
    assert {p.gpus_per_node for p in pools} == {8}
    assert {"h100", "a100-80gb", "l4"} <= {p.name for p in pools}
    assert len({p.name for p in pools}) == len(pools)
