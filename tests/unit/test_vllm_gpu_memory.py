"""vLLM 0.32's KV budget on a GPU, term by term (issue 25): each rule held to the source it follows and each
constant to the startup logs behind it (benchmarks/sizing/gpu-logs/cases.yaml ids)."""

from __future__ import annotations

import pytest

from modelfleet.api.quantity import GIB, MIB
from modelfleet.catalog import GPU_CATALOG, cuda_total, gpu_info, load_model_config
from modelfleet.catalog.gpus import LARGEST_CUDA_GAP_GIB
from modelfleet.engines import vllm
from modelfleet.engines.memory_rules import GPUMemory
from modelfleet.engines.vllm import MEMORY as VLLM
from modelfleet.sizing import Workload, memory_need, model_tensors
from modelfleet.sizing.memory import gpu_share

MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"  # 32 layers, vocabulary 32768, hidden 4096
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
H100 = gpu_info("NVIDIA-H100-80GB-HBM3")


def share(model_id: str = MISTRAL, tp: int = 1, sequences: int = 16, capability=(9, 0)):
    model = load_model_config(model_id)
    workload = Workload("vllm", "none", "auto", 8192, sequences)
    gpu = GPUMemory(80 * GIB, 79.19 * GIB, "test", capability)
    return gpu_share(model, workload, tp, weights=10 * GIB, gpu=gpu)


def named(overheads, prefix):
    return next(o for o in overheads if o.name.startswith(prefix))


# --- the budget's starting point: CUDA's total, per GPU product ---------------------------------------------

def test_the_budget_starts_from_the_total_cuda_reports_not_the_nodes_figure():
    """v1/worker/utils.py request_memory: ceil(total × util), total from torch.accelerator.get_memory_info."""
    gpu = GPUMemory(H100.memory_mib * MIB, H100.cuda_total, H100.cuda_total_source)
    assert VLLM.total(gpu) == 79.19 * GIB < H100.memory_gib * GIB  # 79.65 GiB by nvidia-smi
    assert VLLM.budget(VLLM.total(gpu), 0.9) == pytest.approx(0.9 * 79.19 * GIB, abs=1)


@pytest.mark.parametrize(("product", "gib", "case"), [
    ("NVIDIA-H100-80GB-HBM3", 79.19, "pull/10511"),
    ("NVIDIA-A100-SXM4-40GB", 39.49, "kvcached/pull/448"),
    ("NVIDIA-B200", 178.35, "issues/57936"),
])
def test_a_logged_cuda_total_cites_the_log(product, gib, case):
    gpu = gpu_info(product)
    assert (gpu.cuda_total_gib, gpu.cuda_total) == (gib, gib * GIB)
    assert case in gpu.cuda_total_source


def test_a_gpu_no_log_names_is_taken_at_its_memory_less_the_largest_gap_logged():
    assert LARGEST_CUDA_GAP_GIB == 0.71  # B200: 179.06 by nvidia-smi, 178.35 by CUDA
    for gpu in GPU_CATALOG.values():
        if gpu.cuda_total_gib is None:
            assert gpu.cuda_total == pytest.approx(gpu.memory_mib * MIB - 0.71 * GIB)
            assert gpu.cuda_total_source.startswith("no startup log names this GPU")
        assert gpu.cuda_total < gpu.memory_mib * MIB
    # an unnamed 48 GB-class log reads 44.52 GiB: the L40S is taken lower, the conservative side
    l40s = gpu_info("NVIDIA-L40S")
    assert l40s.cuda_total < 44.52 * GIB and "issues/14011" in l40s.cuda_total_source


def test_a_pool_label_other_than_the_catalogs_is_derived_from_the_label():
    assert cuda_total("NVIDIA-H100-80GB-HBM3", None)[0] == cuda_total("NVIDIA-H100-80GB-HBM3", 81559)[0] == 79.19 * GIB
    total, source = cuda_total("NVIDIA-H100-80GB-HBM3", 40960)  # a MIG slice, say
    assert total == pytest.approx(40 * GIB - 0.71 * GIB) and "40960 MiB" in source
    assert cuda_total("NVIDIA-X1", 98304)[0] == pytest.approx(96 * GIB - 0.71 * GIB)


# --- non-torch memory: workspaces, NCCL at TP > 1, the sampler's state ---------------------------------------

def test_non_torch_memory_grows_by_nccls_buffers_at_tp_2_and_not_beyond():
    """Issue 25's H100 logs: about 0.25 GiB at TP 1, about 2.1 at TP >= 2."""
    at = {tp: named(VLLM.overheads(share(tp=tp)), "non-torch").bytes for tp in (1, 2, 4, 8)}
    state = 16 * (32768 + 1024) * 4  # penalties.py PenaltiesState: int32 [max_num_seqs, vocab + vocab / 32]
    assert at[1] == pytest.approx(0.25 * GIB + state)
    assert at[2] == at[4] == at[8] == pytest.approx((0.25 + 1.85) * GIB + state)


def test_the_sampler_state_follows_max_num_seqs():
    """vLLM's H100 default of 1024 sequences holds half a GiB of it for a 128k vocabulary; the operator passes
    serving.maxConcurrency."""
    few, many = (named(VLLM.overheads(share(sequences=n)), "non-torch").bytes for n in (16, 1024))
    assert many - few == (1024 - 16) * (32768 + 1024) * 4


# --- the profile run's peak: not divided by TP where the source says it is not -------------------------------

def test_the_profile_peak_is_the_forward_pass_or_the_gathered_logits_whichever_is_larger():
    """v1/worker/gpu/model_runner.py profile_run: _dummy_run(max_num_tokens, skip_attn=True), then
    _dummy_sampler_run on min(max_num_tokens, max_num_seqs) rows, all-gathered on every rank."""
    small = share(tp=1, sequences=16)
    assert named(VLLM.overheads(small), "profile-run").bytes == 8192 * small.activation_bytes_per_token
    for tp in (1, 2, 8):
        wide = share(tp=tp, sequences=8192)  # 8192 rows: the logits outgrow the forward pass
        gathered = 1 if tp == 1 else 2 + 1 / tp
        logits = 8192 * 32768 * 2 * gathered + 8192 * 4096 * 2
        assert named(VLLM.overheads(wide), "profile-run").bytes == pytest.approx(
            max(logits, 8192 * wide.activation_bytes_per_token))
    # the sampler's part does not shrink with TP; the forward pass's MLP does
    assert (named(VLLM.overheads(share(tp=8, sequences=8192)), "profile-run").bytes
            > named(VLLM.overheads(share(tp=8, sequences=16)), "profile-run").bytes)


# --- CUDA graphs: the capture grid of config/vllm.py, the count, the model's shape ----------------------------

@pytest.mark.parametrize(("sequences", "tokens", "capability", "piecewise", "full"), [
    (256, 2048, (8, 9), 51, 35),  # logged as PIECEWISE=51 (largest=512), FULL=35 (largest=256): c18, c22
    (1024, 8192, (9, 0), 51, 51),  # vLLM's H100 defaults: 102 graphs
    (1024, 16384, (10, 0), 83, 83),  # B200: the 1024 ceiling of data-centre Blackwell
    (16, 8192, (9, 0), 7, 5),  # what the operator passes for maxConcurrency 16: 1, 2, 4, 8, 16, 24, 32
    (256, 256, (9, 0), 35, 35),  # max_num_batched_tokens caps the grid at 256
])
def test_the_graphs_follow_vllms_capture_grid(sequences, tokens, capability, piecewise, full):
    rules = VLLM.configured(["--max-num-batched-tokens", str(tokens)])
    assert rules.graphs(share(sequences=sequences, capability=capability)) == (piecewise, full)


def test_the_graph_estimate_is_a_pool_and_a_cost_per_graph_and_layer():
    """c22: Qwen3-8B, 36 layers, 86 graphs: 0.52 GiB logged; the rule's 0.14 MiB per graph and layer gives 0.67."""
    graphs = named(VLLM.overheads(share(sequences=16)), "CUDA graphs")
    assert graphs.name == "CUDA graphs: 7 piecewise + 5 full"
    assert graphs.bytes == pytest.approx(0.25 * GIB + 12 * 32 * 0.14 * MIB)
    assert 0.25 + 86 * 36 * 0.14 / 1024 == pytest.approx(0.67, abs=0.01)
    h100_defaults = share(sequences=1024)  # 102 graphs: inside issue 25's logged 0.6-1.8 GiB
    assert named(VLLM.overheads(h100_defaults), "CUDA graphs").bytes / GIB == pytest.approx(0.70, abs=0.01)


def test_a_mixture_of_experts_costs_three_times_as_much_per_graph():
    """c25: a 35B-A3B MoE logged 2.22 GiB where the dense rule gives 0.80."""
    dense, moe = (named(VLLM.overheads(share(model, sequences=16)), "CUDA graphs").bytes
                  for model in (MISTRAL, MIXTRAL))
    assert moe - 0.25 * GIB == pytest.approx(3 * (dense - 0.25 * GIB))  # both 32 layers


def test_no_graphs_no_estimate():
    """gpu_worker.py determine_available_memory: no estimate when cudagraph_mode is NONE."""
    for args in (["--enforce-eager"], ["-O0"], ["--compilation-config", '{"cudagraph_mode": "NONE"}']):
        assert named(VLLM.configured(args).overheads(share()), "CUDA graphs").bytes == 0


# --- the margin, and what stays outside ---------------------------------------------------------------------

def test_the_plan_keeps_a_margin_of_the_weights_and_says_so():
    """Issue 25: the weights estimate is 1.4 % short of vLLM's at worst."""
    margin = named(VLLM.overheads(share()), "safety margin")
    assert margin.margin and margin.in_budget and margin.bytes == pytest.approx(0.014 * 10 * GIB)
    assert "1.4 %" in margin.source


def test_the_context_and_nccls_set_up_stay_outside_the_budget():
    outside = [o for o in VLLM.overheads(share(tp=2)) if not o.in_budget]
    assert [o.name for o in outside] == ["CUDA context and NCCL"]


def test_every_overhead_cites_its_source():
    assert all(o.source for o in VLLM.overheads(share(MIXTRAL, tp=2)))


def test_an_h100_plan_counts_what_the_logs_show():
    """Llama-3-8B-shaped arithmetic on an H100 at TP 2: 0.9 × 79.19 less weights, 2.1 GiB of non-torch memory,
    the peak, the graphs and the margin, each as above."""
    model = load_model_config(MISTRAL)
    workload = Workload("vllm", "none", "auto", 8192, 16)
    gpu = GPUMemory(H100.memory_mib * MIB, H100.cuda_total, H100.cuda_total_source, H100.compute_capability)
    need = memory_need(model_tensors(model), model, workload, 2, gpu, 0.9)
    assert need.budget == pytest.approx(0.9 * 79.19 * GIB, abs=1)
    assert need.overhead == pytest.approx(sum(o.bytes for o in need.overheads if o.in_budget))
    assert need.margin == pytest.approx(0.014 * need.weights)
    # non-torch 2.1, the peak 0.63 (the forward pass of 8192 tokens), graphs 0.30, the margin 0.09
    assert need.overhead / GIB == pytest.approx(2.10 + 0.63 + 0.30 + 0.09, abs=0.01)
    assert vllm.CPU_MEMORY.block_size == 128 and vllm.CPU_MEMORY.in_flight_batches == 1  # the CPU build's rules
