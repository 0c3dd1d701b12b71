"""A third engine's way of counting memory fits sizing as it is: SGLang-shaped rules, a test profile only.

SGLang splits a GPU differently from vLLM and TGI: ``--mem-fraction-static``
of the total is the static pool, weights and KV cache, and everything else
(activations, CUDA graphs, workspaces, the context) lives in the rest
(``python/sglang/srt/model_executor/model_runner.py``: the KV pool is what
the static fraction leaves once the weights are in). The rules below are
that shape, written the way ``engines.vllm`` and ``engines.tgi`` write
theirs, and registered under a kind of their own for the test: sizing
(``modelfleet.sizing``) sizes with them without a line of it knowing. This
is not a product feature: no SGLang profile ships.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import pytest

from modelfleet import engines
from modelfleet.api import GPUPool, LLMDeploymentSpec
from modelfleet.api.quantity import GIB, MIB
from modelfleet.catalog import gpu_info, load_model_config
from modelfleet.engines import vllm
from modelfleet.engines.memory_rules import (
    CUDA_CONTEXT_GIB,
    CUDA_GRAPHS_GIB,
    NON_TORCH_GIB,
    GPUMemory,
    GPUShare,
    KVSlots,
    Overhead,
    activations,
    cuda_context,
    cuda_graphs,
    non_torch,
    whole_blocks,
)
from modelfleet.sizing import Workload, memory_need, model_tensors, plan_deployment

MISTRAL = "mistralai/Mistral-7B-v0.3"  # full attention, vocabulary 32768
SOURCE = "test profile: SGLang's --mem-fraction-static holds weights and the KV pool, the rest of the GPU all else"


@dataclass(frozen=True)
class SGLangShapedMemory:
    """The ``EngineMemory`` of an engine whose static fraction holds weights and KV, and nothing else."""

    name: str = "SGLang-shaped"
    prefill_tokens: int = 8192  # its chunked prefill
    block_size: int = 1  # a page of one token
    budget_rule = "gpu.memoryUtilization × GPU memory (--mem-fraction-static)"
    budget_source = SOURCE
    kv_source = SOURCE
    quantizes_at_load = frozenset({"fp8"})
    load_source = SOURCE
    unservable = MappingProxyType({})
    fixed_kv_cache = None

    def total(self, gpu: GPUMemory) -> float:
        return gpu.reported

    def budget(self, gpu_memory: float, memory_utilization: float) -> float:
        return gpu_memory * memory_utilization

    def configured(self, engine_args: Sequence[str]) -> SGLangShapedMemory:
        return self

    def settings(self, share: GPUShare) -> tuple[str, ...]:
        return ()

    def kv_cache_dtype(self, spec_dtype: str) -> str:
        return spec_dtype

    def kv_slots(self, max_model_len: int, sliding_window: int | None) -> KVSlots:
        return KVSlots(whole_blocks(max_model_len, self.block_size))

    def overheads(self, share: GPUShare) -> tuple[Overhead, ...]:
        return (
            activations(self.prefill_tokens, share.max_concurrency, share, in_budget=False, source=SOURCE),
            cuda_graphs(captured=True, in_budget=False, source=SOURCE),
            non_torch(in_budget=False, source=SOURCE),
            cuda_context(in_budget=False, source=SOURCE),
        )


SGLANG_SHAPED = SGLangShapedMemory()


@pytest.fixture
def sglang_kind(monkeypatch) -> str:
    """The test profile in the registry, as an engine module's one line in ``PROFILES`` puts a real one."""
    profile = replace(vllm.PROFILE, kind="sglang", name="SGLang-shaped", memory=SGLANG_SHAPED)
    monkeypatch.setitem(engines.PROFILES, "sglang", profile)
    return "sglang"


def need_at(kind: str, memory_utilization: float, gpu_memory: float = 80 * GIB):
    model = load_model_config(MISTRAL)
    workload = Workload(kind, "none", "auto", 32768, 8)
    return memory_need(model_tensors(model), model, workload, 1, gpu_memory, memory_utilization)


def test_the_static_fraction_holds_weights_and_kv_and_the_rest_holds_everything_else(sglang_kind):
    need = need_at(sglang_kind, 0.9)
    assert need.budget == 0.9 * 80 * GIB
    assert need.overhead == 0  # nothing but weights and KV counts against the static fraction
    assert need.total == need.weights + need.kv_cache
    activation_bytes = 8192 * 2 * (4 * 4096 + 48 * 128 + 3 * 14336) + 8 * 32768 * 4
    assert need.outside_budget == activation_bytes + (CUDA_GRAPHS_GIB + NON_TORCH_GIB + CUDA_CONTEXT_GIB) * GIB
    assert need.max_sequences == int((72 * GIB - need.weights) // (32768 * 128 * 1024))
    assert need.kv_capacity_tokens == int((72 * GIB - need.weights) // (128 * 1024))  # pages of one token
    assert need.problems() == []  # 2.5 GiB outside, in the 8 GiB the fraction leaves


def test_activations_that_outgrow_the_rest_of_the_gpu_are_said_to(sglang_kind):
    need = need_at(sglang_kind, 0.97)  # 2.4 GiB left outside the static fraction
    [problem] = need.problems()
    assert problem.startswith("activations of a 8192-token forward pass and 8 sequences' logits + CUDA graphs + "
                              "non-torch workspaces + CUDA context and NCCL (2.5 GiB) do not fit in the 2.4 GiB")
    assert need_at("vllm", 0.97).problems() == []  # vLLM counts activations inside its budget instead


def test_the_planner_sizes_with_whatever_rules_the_profile_carries(sglang_kind, monkeypatch):
    """The plan names its engine by the API's EngineKind, which a real third engine extends; here the
    vLLM kind carries the SGLang-shaped rules, and the planner follows them."""
    monkeypatch.setitem(engines.PROFILES, "vllm", replace(vllm.PROFILE, memory=SGLANG_SHAPED))
    spec = LLMDeploymentSpec.model_validate({
        "model": {"id": MISTRAL}, "engine": {"kind": "vllm"}, "serving": {"maxModelLen": 32768, "maxConcurrency": 8},
        "gpu": {"pools": ["h100"]},
    })
    pool = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)
    plan = plan_deployment(spec, load_model_config(MISTRAL), [pool]).require_chosen()
    need = need_at(sglang_kind, spec.gpu.memory_utilization, gpu_info(pool.gpu_product).memory_mib * MIB)
    assert plan.tensor_parallel_size == 1
    assert plan.overhead_gi_b_per_gpu == 0
    assert [(o.name.split(" of ")[0], o.in_budget) for o in plan.overheads] == [
        ("activations", False), ("CUDA graphs", False), ("non-torch workspaces", False),
        ("CUDA context and NCCL", False)]
    assert plan.kv_capacity_tokens == need.kv_capacity_tokens
    assert plan.max_concurrent_sequences == need.max_sequences
