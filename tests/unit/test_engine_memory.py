"""Each engine's memory rules at its pinned release (the profiles' ``MEMORY``), and the one pinned version.

Every rule here changes with the engine's version; each test names the engine
source it holds the rule to, so an upgrade of the pin shows which to re-read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from modelfleet.api import GPUPool, LLMDeploymentSpec
from modelfleet.api.quantity import GIB
from modelfleet.catalog import load_model_config, parse_config
from modelfleet.engines import profile_for
from modelfleet.engines.tgi import MEMORY as TGI, TGI_VERSION, TGI_WIGGLE_ROOM
from modelfleet.engines.vllm import MEMORY as VLLM, VLLM_VERSION
from modelfleet.render.engine_args import engine_args
from modelfleet.sizing import Workload, engine_memory, memory_need, model_tensors, plan_deployment

ROOT = Path(__file__).resolve().parents[2]
H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)
MISTRAL_V01 = "mistralai/Mistral-7B-Instruct-v0.1"


def spec(engine: str, model: str = MISTRAL_V01, length: int = 32768, concurrency: int = 16, **model_fields):
    return LLMDeploymentSpec.model_validate({
        "model": {"id": model, **model_fields}, "engine": {"kind": engine},
        "serving": {"maxModelLen": length, "maxConcurrency": concurrency}, "gpu": {"pools": ["h100"]},
    })


def chosen(engine: str, **kwargs):
    return plan_deployment(spec(engine, **kwargs), load_model_config(kwargs.get("model", MISTRAL_V01)),
                           [H100]).require_chosen()


# --- the one pinned version ---------------------------------------------------------------------------------

def test_one_grep_finds_the_pinned_vllm_version_in_exactly_one_place_of_the_code():
    pattern = re.compile(re.escape(VLLM_VERSION))
    code = [p for d in ("operator", "e2e", "images", "charts", "scripts", "tests", "benchmarks")
            for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in (".py", ".sh", ".txt", ".yaml", "")
            and "golden" not in p.parts and p.name != "Dockerfile.dockerignore"
            and not any(part.endswith(".egg-info") for part in p.parts)]  # pip install -e's copy of the README
    holding = sorted(str(p.relative_to(ROOT)) for p in code if pattern.search(p.read_text(errors="ignore")))
    assert holding == ["operator/modelfleet/engines/vllm.py"]


def test_the_image_and_the_engine_tier_follow_the_pin():
    vllm = profile_for("vllm")
    assert vllm.default_image == f"vllm/vllm-openai:v{VLLM_VERSION}" and vllm.version == VLLM_VERSION
    # venv.sh reads the version from the engine module (it names the engine tier's virtualenv)
    assert "operator/modelfleet/engines/vllm.py" in (ROOT / "e2e" / "engine" / "venv.sh").read_text()
    # TGI's final release: upstream archived the repository (March 2026)
    assert profile_for("tgi").default_image.endswith(f":{TGI_VERSION}") and TGI_VERSION == "3.3.7"


# --- sliding window -------------------------------------------------------------------------------------------

def test_the_mistral_v01_config_carries_its_window_and_v03_none():
    assert load_model_config(MISTRAL_V01).sliding_window == 4096
    assert load_model_config("mistralai/Mistral-7B-Instruct-v0.3").sliding_window is None
    base = {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
            "num_attention_heads": 1, "vocab_size": 10, "max_position_embeddings": 64}
    for no_window in (None, 0, -1):
        assert parse_config("t", {**base, "sliding_window": no_window}, "hub").sliding_window is None


def test_vllm_keeps_the_window_plus_the_tokens_in_flight_per_sequence():
    """kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request, with async scheduling's
    two batches in flight (config/vllm.py VllmConfig.max_concurrent_batches)."""
    assert (VLLM.block_size, VLLM.in_flight_batches, VLLM.prefill_tokens) == (16, 2, 8192)
    held = 4096 - 1 + 2 * 8192
    assert VLLM.kv_slots(32768, 4096).tokens == (-(-held // 16) + 1) * 16 == 20496
    assert VLLM.kv_slots(8192, 4096).tokens == (8192 // 16 + 1) * 16  # capped at max_model_len
    assert VLLM.kv_slots(32768, None).tokens == 32768  # FullAttentionSpec: cdiv(max_model_len, block)


def test_tgi_allocates_the_whole_context_of_a_sliding_window_model():
    """server/text_generation_server/models/model.py Model.info: window_size=None."""
    assert TGI.kv_slots(32768, 4096).tokens == 32768


def test_mistral_v01_on_vllm_16_by_32k_on_h100_is_tp_1_and_on_tgi_full_context():
    vllm = chosen("vllm")
    assert vllm.tensor_parallel_size == 1
    assert vllm.kv_tokens_per_sequence == 20496 and vllm.sliding_window == 4096
    assert vllm.kv_cache_gi_b_per_gpu == pytest.approx(16 * 20496 * 128 / 2**20, abs=0.01)  # 40.03 GiB
    tgi = chosen("tgi")
    assert tgi.kv_tokens_per_sequence == 32768
    assert tgi.tensor_parallel_size == 2 and tgi.kv_cache_gi_b_per_gpu == 32.0  # 16 × 4 GiB over 2 GPUs


# --- budgets --------------------------------------------------------------------------------------------------

def test_tgi_budget_is_its_fraction_times_its_wiggle_room():
    """flash_causal_lm.py FlashCausalLM.warmup: get_free_memory(device, MEMORY_FRACTION * TGI_WIGGLE_ROOM)."""
    model = load_model_config(MISTRAL_V01)
    workload = Workload("tgi", "none", "auto", 8192, 4)
    need = memory_need(model_tensors(model), model, workload, 1, 80 * GIB, 0.9)
    assert TGI_WIGGLE_ROOM == 0.90 and need.budget == pytest.approx(80 * GIB * 0.9 * 0.9)
    vllm = memory_need(model_tensors(model), model, Workload("vllm", "none", "auto", 8192, 4), 1, 80 * GIB, 0.9)
    assert vllm.budget == pytest.approx(80 * GIB * 0.9)  # v1/worker/utils.py request_memory


def test_what_each_engine_counts_against_its_budget():
    model = load_model_config(MISTRAL_V01)
    for engine, graphs_in, context_in in (("vllm", True, False), ("tgi", False, True)):
        need = memory_need(model_tensors(model), model, Workload(engine, "none", "auto", 8192, 4), 1, 80 * GIB, 0.9)
        counted = {o.name.split(":")[0]: o.in_budget for o in need.overheads}
        assert counted["CUDA graphs"] is graphs_in
        assert counted["CUDA context and NCCL"] is context_in
        assert all(o.source for o in need.overheads)


def test_activations_follow_the_prefill_the_renderer_passes():
    model = load_model_config(MISTRAL_V01)

    def activations(engine):
        need = memory_need(model_tensors(model), model, Workload(engine, "none", "auto", 32768, 1), 1, 80 * GIB, 0.9)
        return need.overheads[0].bytes

    # 8192 vs 4096 tokens, not the 32768-token prompt; vLLM's profile-run peak is its forward pass here (the
    # larger of that and the sampler's), TGI's warm-up adds its one request's float32 logits
    assert activations("vllm") == 2 * (activations("tgi") - 32000 * 4)
    args = engine_args(spec("tgi"), chosen("tgi"), profile_for("tgi"))
    assert args[args.index("--max-batch-prefill-tokens") + 1] == str(TGI.prefill_tokens)


def test_tgi_captures_no_cuda_graphs_with_bitsandbytes_8bit():
    """launcher/src/main.rs: "Bitsandbytes doesn't work with cuda graphs, deactivating them"."""
    model = load_model_config(MISTRAL_V01)
    need = memory_need(model_tensors(model), model, Workload("tgi", "bitsandbytes-8bit", "auto", 8192, 4), 1,
                       80 * GIB, 0.9)
    assert next(o.bytes for o in need.overheads if o.name == "CUDA graphs") == 0


# --- quantization at load -------------------------------------------------------------------------------------

def test_fp8_at_load_peaks_at_one_16_bit_layer_over_the_fp8_weights():
    """online/fp8.py OnlineLinearBase: weights on the meta device, quantized layer by layer while loading."""
    model = load_model_config("mistralai/Mixtral-8x7B-Instruct-v0.1")
    tensors = model_tensors(model)
    at_load = Workload("vllm", "fp8", "auto", 4096, 4, quantized_at_load=True)
    need = memory_need(tensors, model, at_load, 2, 80 * GIB, 0.9)
    layer = 2 * (4096 * 4096 * 2 + 2 * 1024 * 4096 + 8 * 3 * 14336 * 4096) / 2  # q,o + k,v + 8 experts, over TP 2
    assert need.load_peak - need.weights == pytest.approx(layer)
    stored = memory_need(tensors, model, Workload("vllm", "fp8", "auto", 4096, 4), 2, 80 * GIB, 0.9)
    assert stored.load_peak == stored.weights  # a pre-quantized repo loads as it is


def test_a_16_bit_repo_asked_for_fp8_is_quantized_at_load_and_vllm_gets_the_online_flag():
    plan = chosen("vllm", model="mistralai/Mixtral-8x7B-Instruct-v0.1", length=4096, concurrency=4,
                  quantization="fp8")
    assert plan.quantized_at_load and plan.load_peak_gi_b_per_gpu > plan.weights_gi_b_per_gpu
    args = engine_args(spec("vllm", model="mistralai/Mixtral-8x7B-Instruct-v0.1", quantization="fp8"), plan,
                       profile_for("vllm"))
    assert args[args.index("--quantization") + 1] == "fp8_per_tensor"


def test_vllm_serves_no_bitsandbytes_tgi_does():
    assert set(engine_memory("vllm").unservable) == {"bitsandbytes-8bit", "bitsandbytes-4bit"}
    assert engine_memory("tgi").unservable == {}
    assert "bitsandbytes-4bit" in engine_memory("tgi").quantizes_at_load


def test_logits_are_those_of_the_profiled_pass():
    """vLLM: _dummy_sampler_run over max_num_seqs; TGI: the warm-up's requests of max_input_tokens each."""
    model = load_model_config(MISTRAL_V01)

    def logits_named(engine):
        need = memory_need(model_tensors(model), model, Workload(engine, "none", "auto", 512, 64), 1, 80 * GIB, 0.9)
        return need.overheads[0].name

    assert "64 sequences' logits" in logits_named("vllm")
    assert "9 sequences' logits" in logits_named("tgi")  # cdiv(4096, 511) warm-up requests


@given(st.integers(16, 1_048_576), st.integers(1, 131_072), st.sampled_from([16, 128]), st.integers(1, 2),
       st.integers(64, 16_384))
def test_a_window_never_costs_more_than_one_block_over_full_attention(length, window, block, batches, step):
    """SlidingWindowSpec's extra block for a window that starts mid-block is all it can add; it saves the rest."""
    rules = replace(VLLM, block_size=block, in_flight_batches=batches, prefill_tokens=step)
    windowed, full = rules.kv_slots(length, window).tokens, rules.kv_slots(length, None).tokens
    assert windowed <= full + block
    assert windowed >= min(window - 1 + batches * step, length)
    assert windowed % block == 0
