"""The command lines vLLM and TGI get from the renderer (``render.engine_args``), and their images."""

from __future__ import annotations

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.engines import PORT, profile_for
from modelfleet.engines.tgi import TGI_VERSION
from modelfleet.engines.vllm import VLLM_VERSION
from modelfleet.render.engine_args import engine_args, engine_image
from modelfleet.render.fleet import unsupported
from support.render_cases import example, example_plan, with_spec

VLLM = profile_for("vllm")
TGI = profile_for("tgi")
SETTINGS = OperatorSettings()

MIXTRAL = example("mixtral-8x22b-fp8")
MIXTRAL_PLAN = example_plan("mixtral-8x22b-fp8")
MISTRAL_TGI = example("mistral-7b-tgi")
MISTRAL_TGI_PLAN = example_plan("mistral-7b-tgi")


def option(args: list[str], flag: str) -> str | None:
    """The value after ``flag``; None when the flag is absent."""
    return args[args.index(flag) + 1] if flag in args else None


def test_vllm_gets_the_model_at_its_revision_from_the_offline_cache():
    args = engine_args(MIXTRAL.spec, MIXTRAL_PLAN, VLLM)
    assert option(args, "--model") == "mistralai/Mixtral-8x22B-Instruct-v0.1"
    assert option(args, "--revision") == option(args, "--tokenizer-revision") == "main"
    # No --download-dir: vLLM would lock inside the runtime user's hub cache, which the root engine
    # without CAP_DAC_OVERRIDE cannot write (weight_utils.get_lock); HF_HOME finds the same cache.
    assert "--download-dir" not in args
    assert dict(VLLM.env)["HF_HOME"] == "/cache/huggingface"
    assert dict(VLLM.env)["HF_HUB_OFFLINE"] == "1"
    # The compile cache is the pod's own (the shared cache is read-only to engines: tests/unit/test_render_env.py).
    assert dict(VLLM.env)["VLLM_CACHE_ROOT"] == "/scratch/vllm"


def test_vllm_gets_the_plan_and_the_serving_limits():
    args = engine_args(MIXTRAL.spec, MIXTRAL_PLAN, VLLM)
    assert option(args, "--tensor-parallel-size") == "4"
    assert option(args, "--max-model-len") == "65536"
    assert option(args, "--max-num-seqs") == "16"
    assert option(args, "--gpu-memory-utilization") == "0.92"
    assert option(args, "--served-model-name") == "mistralai/Mixtral-8x22B-Instruct-v0.1"
    assert option(args, "--port") == str(PORT)
    assert option(args, "--kv-cache-dtype") == "fp8"
    assert "--enable-expert-parallel" in args


@pytest.mark.parametrize(
    ("quantization", "at_load", "flag"),
    [
        ("none", False, None),
        # vLLM's online fp8: `--quantization fp8` refuses a 16-bit checkpoint at the pinned version
        # (model_executor/layers/quantization/fp8.py Fp8Config.__init__)
        ("fp8", True, "fp8_per_tensor"),
        ("fp8", False, None),  # an fp8 repo: vLLM reads its quantization_config
        ("awq", False, None),  # read from the repo's config: vLLM then picks the Marlin kernels
        ("gptq", False, None),
    ],
)
def test_vllm_quantization_flags(quantization, at_load, flag):
    resource = with_spec(MIXTRAL, **{"model.quantization": quantization})
    plan = MIXTRAL_PLAN.model_copy(update={"quantized_at_load": at_load})
    assert option(engine_args(resource.spec, plan, VLLM), "--quantization") == flag
    assert unsupported(resource.spec, plan, SETTINGS) == []


def test_vllm_and_tgi_are_told_the_prefill_the_plan_reserved():
    assert option(engine_args(MIXTRAL.spec, MIXTRAL_PLAN, VLLM), "--max-num-batched-tokens") == "8192"
    assert option(engine_args(MISTRAL_TGI.spec, MISTRAL_TGI_PLAN, TGI), "--max-batch-prefill-tokens") == "4096"
    plan = MISTRAL_TGI_PLAN.model_copy(update={"prefill_tokens": 2048})
    assert option(engine_args(MISTRAL_TGI.spec, plan, TGI), "--max-batch-prefill-tokens") == "2048"


def test_vllm_has_no_expert_parallel_without_the_plan():
    plan = MIXTRAL_PLAN.model_copy(update={"expert_parallel": False})
    assert "--enable-expert-parallel" not in engine_args(MIXTRAL.spec, plan, VLLM)


def test_extra_args_come_last():
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": ["--enable-prefix-caching", "--seed", "3"]})
    assert engine_args(resource.spec, MIXTRAL_PLAN, VLLM)[-3:] == ["--enable-prefix-caching", "--seed", "3"]
    assert unsupported(resource.spec, MIXTRAL_PLAN, SETTINGS) == []


@pytest.mark.parametrize("extra", [["--port", "9000"], ["--port=9000"], ["--max_num_seqs", "64"], ["-tp", "2"]])
def test_vllm_refuses_extra_args_that_override_the_operator(extra):
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": extra})
    problems = unsupported(resource.spec, MIXTRAL_PLAN, SETTINGS)
    assert len(problems) == 1 and extra[0] in problems[0]


def test_tgi_gets_the_model_the_context_split_and_a_queue():
    args = engine_args(MISTRAL_TGI.spec, MISTRAL_TGI_PLAN, TGI)
    assert option(args, "--model-id") == "mistralai/Mistral-7B-Instruct-v0.2"
    assert option(args, "--revision") == "main"
    assert option(args, "--hostname") == "0.0.0.0"  # not $HOSTNAME, the pod name
    assert option(args, "--port") == str(PORT)
    assert option(args, "--num-shard") == "1"
    assert option(args, "--max-total-tokens") == "8192"
    assert option(args, "--max-input-tokens") == "8191"
    assert int(option(args, "--max-concurrent-requests")) > MISTRAL_TGI.spec.serving.max_concurrency
    assert option(args, "--cuda-memory-fraction") == "0.9"
    assert TGI.command == ()  # the image's entrypoint runs the launcher
    assert dict(TGI.env)["HUGGINGFACE_HUB_CACHE"] == "/cache/huggingface/hub"


def test_tgi_usage_telemetry_is_off():
    # launcher/src/main.rs Args.usage_stats: `--usage-stats` or USAGE_STATS, one of on, off, no-stack.
    assert dict(TGI.env)["USAGE_STATS"] == "off"
    assert "--usage-stats" not in engine_args(MISTRAL_TGI.spec, MISTRAL_TGI_PLAN, TGI)
    assert "USAGE_STATS" not in dict(VLLM.env)


@pytest.mark.parametrize(
    ("quantization", "flag"),
    [
        ("none", None),
        ("fp8", "fp8"),
        ("awq", "awq"),
        ("gptq", "gptq"),
        ("bitsandbytes-8bit", "bitsandbytes"),
        ("bitsandbytes-4bit", "bitsandbytes-nf4"),
    ],
)
def test_tgi_quantize_flags(quantization, flag):
    resource = with_spec(MISTRAL_TGI, **{"model.quantization": quantization})
    assert option(engine_args(resource.spec, MISTRAL_TGI_PLAN, TGI), "--quantize") == flag
    assert unsupported(resource.spec, MISTRAL_TGI_PLAN, SETTINGS) == []


def test_tgi_fp8_kv_cache_is_e4m3_like_vllm():
    resource = with_spec(MISTRAL_TGI, **{"model.kvCacheDtype": "fp8"})
    assert option(engine_args(resource.spec, MISTRAL_TGI_PLAN, TGI), "--kv-cache-dtype") == "fp8_e4m3fn"


def test_tgi_refuses_a_flag_given_twice():
    resource = with_spec(MISTRAL_TGI, **{"engine.extraArgs": ["-p", "80"]})
    assert "-p" in unsupported(resource.spec, MISTRAL_TGI_PLAN, SETTINGS)[0]


def test_image_is_the_users_then_the_operators_then_the_pinned_one():
    assert engine_image(MIXTRAL.spec, VLLM, OperatorSettings()) == f"vllm/vllm-openai:v{VLLM_VERSION}"
    configured = OperatorSettings(engine_images={"vllm": "mirror.local/vllm:patched"})
    assert engine_image(MIXTRAL.spec, VLLM, configured) == "mirror.local/vllm:patched"
    own = with_spec(MIXTRAL, **{"engine.image": "acme/vllm:patched"})
    assert engine_image(own.spec, VLLM, configured) == "acme/vllm:patched"
    assert engine_image(MISTRAL_TGI.spec, TGI, configured) == (
        f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}"
    )
