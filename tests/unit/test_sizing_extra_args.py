"""The plan is sized for the engine that will run: the memory-changing options of ``spec.engine.extraArgs``
(issue 25), read the way vLLM's parser reads them, and what the renderer lets through."""

from __future__ import annotations

import pytest
import yaml

from modelfleet.api import GPUPool, LLMDeploymentSpec, OperatorSettings
from modelfleet.api.quantity import GIB
from modelfleet.catalog import load_model_config
from modelfleet.cli.main import main
from modelfleet.engines import profile_for
from modelfleet.engines.memory_rules import EngineArgsError
from modelfleet.engines.vllm import MEMORY as VLLM, human_readable_int
from modelfleet.render.engine_args import engine_args
from modelfleet.render.fleet import unsupported
from modelfleet.sizing import UnreadableEngineArgs, plan_deployment

MISTRAL = "mistralai/Mistral-7B-Instruct-v0.3"
MISTRAL_V01 = "mistralai/Mistral-7B-Instruct-v0.1"  # sliding window 4096
H100 = GPUPool(name="h100", gpu_product="NVIDIA-H100-80GB-HBM3", gpus_per_node=8)


def spec(extra: list[str], model: str = MISTRAL, length: int = 32768, concurrency: int = 16, **model_fields):
    return LLMDeploymentSpec.model_validate({
        "model": {"id": model, **model_fields}, "engine": {"kind": "vllm", "extraArgs": extra},
        "serving": {"maxModelLen": length, "maxConcurrency": concurrency}, "gpu": {"pools": ["h100"]},
    })


def planned(extra: list[str], **kwargs):
    s = spec(extra, **kwargs)
    return plan_deployment(s, load_model_config(s.model.id), [H100])


def overhead(plan, prefix: str) -> float:
    return next(o.gi_b for o in plan.overheads if o.name.startswith(prefix))


# --- reading the options as vLLM's parser reads them ---------------------------------------------------------

@pytest.mark.parametrize(("extra", "tokens"), [
    (["--max-num-batched-tokens", "4096"], 4096),
    (["--max-num-batched-tokens=2K"], 2048),  # human_readable_int: binary in capitals
    (["--max_num_batched_tokens", "16k"], 16000),  # underscores are dashes; decimal in lower case
    (["--max-num-batched", "1024"], 1024),  # an unambiguous prefix
    (["--max-num-batched-tokens", "4096", "--max-num-batched-tokens", "2048"], 2048),  # the last wins
])
def test_max_num_batched_tokens(extra, tokens):
    assert VLLM.configured(extra).prefill_tokens == tokens


def test_human_readable_ints_are_vllms():
    """vllm/utils/argparse_utils.py human_readable_int."""
    assert [human_readable_int(v) for v in ("1k", "1K", "25.6k", "2M", "1G", "300")] == [
        1000, 1024, 25600, 2 * 1024**2, 1024**3, 300]


@pytest.mark.parametrize(("extra", "mode"), [
    (["--enforce-eager"], "NONE"),
    (["--enforce-eager", "--no-enforce-eager"], "FULL_AND_PIECEWISE"),
    (["-O0"], "NONE"),
    (["-O", "1"], "PIECEWISE"),
    (["-O=3"], "FULL_AND_PIECEWISE"),
    (["--optimization-level", "1"], "PIECEWISE"),
    (["--compilation-config", '{"cudagraph_mode": "FULL_DECODE_ONLY"}'], "FULL_DECODE_ONLY"),
    (["-cc.cudagraph_mode", "piecewise"], "PIECEWISE"),
    (["--compilation-config.cudagraph_mode=NONE"], "NONE"),
])
def test_the_graph_mode(extra, mode):
    assert VLLM.configured(extra).graph_mode == mode


@pytest.mark.parametrize(("extra", "sizes", "ceiling"), [
    (["--cudagraph-capture-sizes", "1", "2", "4", "8"], (1, 2, 4, 8), None),
    (["--compilation-config", '{"cudagraph_capture_sizes": [1, 16, 64]}'], (1, 16, 64), None),
    (["-cc.cudagraph_capture_sizes", "[1, 2]"], (1, 2), None),
    (["--max-cudagraph-capture-size", "64"], None, 64),
    (["--compilation-config", '{"max_cudagraph_capture_size": 128}'], None, 128),
])
def test_the_capture_sizes(extra, sizes, ceiling):
    rules = VLLM.configured(extra)
    assert (rules.capture_sizes, rules.max_capture_size) == (sizes, ceiling)


@pytest.mark.parametrize(("extra", "field", "value"), [
    (["--kv-cache-dtype", "fp8_e5m2"], "kv_dtype", "fp8_e5m2"),
    (["--block-size", "32"], "block_size", 32),
    (["--no-async-scheduling"], "in_flight_batches", 1),
    (["--kv-cache-memory-bytes", "20G"], "kv_cache_memory_bytes", 20 * 1024**3),
    (["--disable-custom-all-reduce"], "custom_all_reduce", False),
    (["--max-num-seqs", "64"], "max_num_seqs", 64),
])
def test_the_other_memory_options(extra, field, value):
    assert getattr(VLLM.configured(extra), field) == value


def test_options_that_do_not_change_memory_change_nothing():
    assert VLLM.configured(["--enable-prefix-caching", "--seed", "3", "--enable-chunked-prefill"]) == VLLM


@pytest.mark.parametrize("extra", [
    ["--kv-cache-dtype", "turboquant_k8v4"],  # bytes per token sizing does not know
    ["--max-num-batched-tokens", "lots"],
    ["--max-num-batched-tokens"],
    ["-O", "7"],
    ["--compilation-config", '{"cudagraph_mode": "SOMETIMES"}'],
])
def test_an_option_whose_memory_cannot_be_counted_is_said(extra):
    with pytest.raises(EngineArgsError, match="extraArgs"):
        VLLM.configured(extra)
    with pytest.raises(UnreadableEngineArgs) as error:
        planned(extra)
    assert error.value.reason == "UnreadableEngineArgs"


# --- each changes the plan, and the plan says so -------------------------------------------------------------

def test_max_num_batched_tokens_sizes_the_peak_and_the_window_and_replaces_the_operators_flag():
    small, default = planned(["--max-num-batched-tokens", "2048"], model=MISTRAL_V01), planned([], model=MISTRAL_V01)
    small_plan, default_plan = small.require_chosen(), default.require_chosen()
    assert (small_plan.prefill_tokens, default_plan.prefill_tokens) == (2048, 8192)
    assert overhead(small_plan, "profile-run") == pytest.approx(overhead(default_plan, "profile-run") / 4, abs=0.01)
    # the sliding window keeps the tokens in flight: 2 batches of 2048, not of 8192
    assert small_plan.kv_tokens_per_sequence == (-(-(4096 - 1 + 2 * 2048) // 16) + 1) * 16
    settings = small.candidates[0].engine_settings
    assert "--max-num-batched-tokens 2048 (extraArgs --max-num-batched-tokens 2048)" in settings
    # the renderer leaves its own out: the engine reads the user's, and nothing is refused as a repeat
    s = spec(["--max-num-batched-tokens", "2048"], model=MISTRAL_V01)
    args = engine_args(s, small_plan, profile_for("vllm"))
    assert args.count("--max-num-batched-tokens") == 1 and args[args.index("--max-num-batched-tokens") + 1] == "2048"
    assert unsupported(s, small_plan, OperatorSettings()) == []


def test_enforce_eager_takes_the_graph_estimate_out():
    eager, graphs = planned(["--enforce-eager"]).require_chosen(), planned([]).require_chosen()
    assert overhead(eager, "CUDA graphs") == 0 and overhead(graphs, "CUDA graphs") > 0.25
    assert eager.kv_capacity_tokens > graphs.kv_capacity_tokens


def test_capture_sizes_change_the_graph_count():
    plan = planned(["--cudagraph-capture-sizes", "1", "2", "4", "8", "16", "32", "64", "128"])
    chosen = plan.require_chosen()
    graphs = next(o for o in chosen.overheads if o.name.startswith("CUDA graphs"))
    assert graphs.name == "CUDA graphs: 8 piecewise + 5 full"  # FULL decode graphs only up to 16 sequences
    assert any("8 piecewise + 5 full over 8 capture sizes (1-128)" in s for s in plan.candidates[0].engine_settings)


def test_a_kv_cache_dtype_passed_through_halves_the_kv_cache():
    """The renderer writes --kv-cache-dtype only for model.kvCacheDtype fp8: with auto, extraArgs may say it."""
    fp8 = planned(["--kv-cache-dtype", "fp8_e5m2"], concurrency=8)
    assert fp8.model.kv_cache_dtype == "fp8" and fp8.model.kv_cache_bytes_per_token == 64 * 1024
    sixteen_bit = planned([], concurrency=8).require_chosen()
    assert fp8.require_chosen().kv_cache_gi_b_per_gpu == sixteen_bit.kv_cache_gi_b_per_gpu / 2 == 16.0
    assert fp8.require_chosen().kv_capacity_tokens > 1.9 * sixteen_bit.kv_capacity_tokens
    s = spec(["--kv-cache-dtype", "fp8_e5m2"])
    assert unsupported(s, fp8.require_chosen(), OperatorSettings()) == []
    # with model.kvCacheDtype fp8 the operator passes its own, and a second is refused
    s = spec(["--kv-cache-dtype", "fp8_e5m2"], kvCacheDtype="fp8")
    (problem,) = unsupported(s, planned(["--kv-cache-dtype", "fp8_e5m2"], kvCacheDtype="fp8").require_chosen(),
                             OperatorSettings())
    assert "--kv-cache-dtype" in problem and "set the spec's fields instead" in problem


def test_the_block_size_rounds_the_kv_capacity():
    plan = planned(["--block-size", "256"]).require_chosen()
    assert plan.kv_capacity_tokens % 256 == 0


def test_a_kv_cache_set_outright_is_the_kv_cache():
    """gpu_worker.py determine_available_memory: --kv-cache-memory-bytes skips the budget."""
    plan = planned(["--kv-cache-memory-bytes", "40G"], concurrency=8).require_chosen()
    assert plan.tensor_parallel_size == 1
    assert plan.kv_capacity_tokens == 40 * GIB // (128 * 1024) // 16 * 16
    assert plan.max_concurrent_sequences == 10  # 40 GiB over 4 GiB sequences
    too_big = planned(["--kv-cache-memory-bytes", "90G"], concurrency=4)
    assert too_big.chosen is None or too_big.require_chosen().tensor_parallel_size > 1
    tp1 = too_big.candidates[0]
    assert not tp1.fits and "do not fit in the GPU's 79.2 GiB" in tp1.reason


def test_max_num_seqs_and_the_memory_fraction_are_the_specs_and_the_renderer_refuses_them():
    """serving.maxConcurrency and gpu.memoryUtilization set them; the plan is sized with those."""
    for extra in (["--max-num-seqs", "256"], ["--gpu-memory-utilization", "0.95"]):
        s = spec(extra)
        plan = plan_deployment(spec([]), load_model_config(MISTRAL), [H100]).require_chosen()
        (problem,) = unsupported(s, plan, OperatorSettings())
        assert extra[0] in problem and "set the spec's fields instead" in problem
    assert any(s.startswith("--max-num-seqs 16 (serving.maxConcurrency")
               for s in planned([]).candidates[0].engine_settings)


def test_modelfleet_plan_shows_what_the_engine_runs_with(tmp_path, capsys):
    path = tmp_path / "llmd.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "modelfleet.io/v1alpha1", "kind": "LLMDeployment", "metadata": {"name": "m"},
        "spec": {"model": {"id": MISTRAL}, "serving": {"maxModelLen": 32768, "maxConcurrency": 16},
                 "engine": {"kind": "vllm", "extraArgs": ["--enforce-eager", "--kv-cache-dtype", "fp8",
                                                          "--max-num-batched-tokens", "4096"]},
                 "gpu": {"pools": ["h100"]}},
    }))
    assert main(["plan", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert "vLLM at h100 TP 1 runs with:" in out
    assert "--max-num-batched-tokens 4096 (extraArgs --max-num-batched-tokens 4096)" in out
    assert "no CUDA graphs (NONE) (extraArgs --enforce-eager)" in out
    assert "--kv-cache-dtype fp8 (extraArgs --kv-cache-dtype fp8): fp8 KV cache" in out
    assert "79.19 GiB per GPU as it counts memory (issue 25's H100 80GB HBM3 logs" in out
    assert "safety margin: 1.4% of the weights" in out and "(a safety margin of 0.19 of it)" in out
