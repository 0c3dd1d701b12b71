"""Per-engine facts: the command lines vLLM and TGI get, their images, what they refuse."""

from __future__ import annotations

import pytest
from support.render_cases import example, example_plan, with_spec

from modelfleet.api import OperatorSettings
from modelfleet.engines import PORT, TGI, VLLM, engine_for
from modelfleet.engines.flags import flag_name, repeated_flags
from modelfleet.engines.tgi import TGI_VERSION
from modelfleet.engines.vllm import VLLM_VERSION

MIXTRAL = example("mixtral-8x22b-fp8")
MIXTRAL_PLAN = example_plan("mixtral-8x22b-fp8")
MISTRAL_TGI = example("mistral-7b-tgi")
MISTRAL_TGI_PLAN = example_plan("mistral-7b-tgi")


def option(args: list[str], flag: str) -> str | None:
    """The value after ``flag``; None when the flag is absent."""
    return args[args.index(flag) + 1] if flag in args else None


def test_vllm_gets_the_model_at_its_revision_from_the_offline_cache():
    args = VLLM().args(MIXTRAL.spec, MIXTRAL_PLAN)
    assert option(args, "--model") == "mistralai/Mixtral-8x22B-Instruct-v0.1"
    assert option(args, "--revision") == option(args, "--tokenizer-revision") == "main"
    # No --download-dir: vLLM would lock inside the runtime user's hub cache, which the root engine
    # without CAP_DAC_OVERRIDE cannot write (weight_utils.get_lock); HF_HOME finds the same cache.
    assert "--download-dir" not in args
    assert dict(VLLM().env())["HF_HOME"] == "/cache/huggingface"
    assert dict(VLLM().env())["HF_HUB_OFFLINE"] == "1"
    assert dict(VLLM().env())["VLLM_CACHE_ROOT"].startswith("/cache/")


def test_vllm_gets_the_plan_and_the_serving_limits():
    args = VLLM().args(MIXTRAL.spec, MIXTRAL_PLAN)
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
    assert option(VLLM().args(resource.spec, plan), "--quantization") == flag
    assert VLLM().problems(resource.spec, plan) == []


def test_vllm_and_tgi_are_told_the_prefill_the_plan_reserved():
    assert option(VLLM().args(MIXTRAL.spec, MIXTRAL_PLAN), "--max-num-batched-tokens") == "8192"
    assert option(TGI().args(MISTRAL_TGI.spec, MISTRAL_TGI_PLAN), "--max-batch-prefill-tokens") == "4096"
    plan = MISTRAL_TGI_PLAN.model_copy(update={"prefill_tokens": 2048})
    assert option(TGI().args(MISTRAL_TGI.spec, plan), "--max-batch-prefill-tokens") == "2048"


def test_vllm_has_no_expert_parallel_without_the_plan():
    plan = MIXTRAL_PLAN.model_copy(update={"expert_parallel": False})
    assert "--enable-expert-parallel" not in VLLM().args(MIXTRAL.spec, plan)


def test_extra_args_come_last():
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": ["--enable-prefix-caching", "--seed", "3"]})
    assert VLLM().args(resource.spec, MIXTRAL_PLAN)[-3:] == ["--enable-prefix-caching", "--seed", "3"]
    assert VLLM().problems(resource.spec, MIXTRAL_PLAN) == []


@pytest.mark.parametrize("extra", [["--port", "9000"], ["--port=9000"], ["--max_num_seqs", "64"], ["-tp", "2"]])
def test_vllm_refuses_extra_args_that_override_the_operator(extra):
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": extra})
    problems = VLLM().problems(resource.spec, MIXTRAL_PLAN)
    assert len(problems) == 1 and extra[0] in problems[0]


def test_tgi_gets_the_model_the_context_split_and_a_queue():
    args = TGI().args(MISTRAL_TGI.spec, MISTRAL_TGI_PLAN)
    assert option(args, "--model-id") == "mistralai/Mistral-7B-Instruct-v0.2"
    assert option(args, "--revision") == "main"
    assert option(args, "--hostname") == "0.0.0.0"  # not $HOSTNAME, the pod name
    assert option(args, "--port") == str(PORT)
    assert option(args, "--num-shard") == "1"
    assert option(args, "--max-total-tokens") == "8192"
    assert option(args, "--max-input-tokens") == "8191"
    assert int(option(args, "--max-concurrent-requests")) > MISTRAL_TGI.spec.serving.max_concurrency
    assert option(args, "--cuda-memory-fraction") == "0.9"
    assert TGI().command() == []  # the image's entrypoint runs the launcher
    assert dict(TGI().env())["HUGGINGFACE_HUB_CACHE"] == "/cache/huggingface/hub"


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
    assert option(TGI().args(resource.spec, MISTRAL_TGI_PLAN), "--quantize") == flag
    assert TGI().problems(resource.spec, MISTRAL_TGI_PLAN) == []


def test_tgi_fp8_kv_cache_is_e4m3_like_vllm():
    resource = with_spec(MISTRAL_TGI, **{"model.kvCacheDtype": "fp8"})
    assert option(TGI().args(resource.spec, MISTRAL_TGI_PLAN), "--kv-cache-dtype") == "fp8_e4m3fn"


def test_tgi_refuses_a_flag_given_twice():
    resource = with_spec(MISTRAL_TGI, **{"engine.extraArgs": ["-p", "80"]})
    assert "-p" in TGI().problems(resource.spec, MISTRAL_TGI_PLAN)[0]


def test_image_is_the_users_then_the_operators_then_the_pinned_one():
    engine = engine_for("vllm")
    assert engine.image(MIXTRAL.spec, OperatorSettings()) == f"vllm/vllm-openai:v{VLLM_VERSION}"
    configured = OperatorSettings(engine_images={"vllm": "mirror.local/vllm:patched"})
    assert engine.image(MIXTRAL.spec, configured) == "mirror.local/vllm:patched"
    own = with_spec(MIXTRAL, **{"engine.image": "acme/vllm:patched"})
    assert engine.image(own.spec, configured) == "acme/vllm:patched"
    assert engine_for("tgi").image(MISTRAL_TGI.spec, configured) == (
        f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}"
    )


@pytest.mark.parametrize(
    ("arg", "name"),
    [("--max_num_seqs=8", "--max-num-seqs"), ("--port", "--port"), ("-tp", "-tp"), ("-1", None), ("fp8", None)],
)
def test_flag_names(arg, name):
    assert flag_name(arg) == name


def test_values_that_look_like_flags_are_not_flags():
    assert repeated_flags(["--seed", "1"], ["--temperature", "-1"], {}) == []
