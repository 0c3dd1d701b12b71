"""extraArgs checked the way the engine's own parser reads them (issue 16): prefixes, aliases, repositories, code."""

from __future__ import annotations

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.engines import profile_for
from modelfleet.engines.flags import flag_uses
from modelfleet.render import UnsupportedSpec, render_all
from modelfleet.render.fleet import unsupported
from support.render_cases import example, example_plan, with_spec

MIXTRAL = example("mixtral-8x22b-fp8")
MIXTRAL_PLAN = example_plan("mixtral-8x22b-fp8")
MISTRAL_TGI = example("mistral-7b-tgi")
MISTRAL_TGI_PLAN = example_plan("mistral-7b-tgi")
SETTINGS = OperatorSettings()
TRUSTING = OperatorSettings(allow_trust_remote_code=True)


def vllm_problems(extra: list[str], settings: OperatorSettings = SETTINGS, **changes) -> list[str]:
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": extra, **changes})
    return unsupported(resource.spec, MIXTRAL_PLAN, settings)


def tgi_problems(extra: list[str], settings: OperatorSettings = SETTINGS, **changes) -> list[str]:
    resource = with_spec(MISTRAL_TGI, **{"engine.extraArgs": extra, **changes})
    return unsupported(resource.spec, MISTRAL_TGI_PLAN, settings)


# --- flags the operator owns, however the engine's parser lets them be spelled -----------------------------

@pytest.mark.parametrize(
    ("extra", "owned"),
    [
        # argparse allow_abbrev: an unambiguous prefix is the option (issue 16's three cases)
        (["--tensor-parallel", "8"], "--tensor-parallel-size"),
        (["--por", "9999"], "--port"),
        (["--max-model", "1048576"], "--max-model-len"),
        (["--por=9999"], "--port"),
        # FlexibleArgumentParser: underscores are dashes, then the prefix rule
        (["--tensor_parallel", "8"], "--tensor-parallel-size"),
        (["--max_model=5"], "--max-model-len"),
        # vLLM's own short aliases, their prefixes, and a one-letter option with its value attached
        (["-tp", "8"], "--tensor-parallel-size"),
        (["-t", "8"], "--tensor-parallel-size"),
        (["-tp=2"], "--tensor-parallel-size"),
        # the switch's negation overrides the plan's expert parallelism
        (["--no-enable-expert-parallel"], "--enable-expert-parallel"),
        (["-ep"], "--enable-expert-parallel"),
        (["--served-model", "other"], "--served-model-name"),
    ],
)
def test_vllm_refuses_every_spelling_of_a_flag_the_operator_sets(extra, owned):
    problems = vllm_problems(extra)
    assert len(problems) == 1
    assert extra[0] in problems[0] and "set the spec's fields instead" in problems[0]
    assert owned in problems[0] or extra[0].split("=")[0] == owned


def test_a_one_letter_option_with_its_value_attached_is_that_option():
    uses = list(flag_uses(["-q8"], profile_for("vllm").parser))
    assert (uses[0].flag, uses[0].value) == ("--quantization", "8")


@pytest.mark.parametrize("extra", [["--enable-prefix-caching"], ["--seed", "3"], ["--enable-chunked-prefill"],
                                   ["--temperature-is-not-a-flag", "-1"], ["--max-num-partial"]])
def test_vllm_lets_through_what_the_operator_does_not_own(extra):
    problems = vllm_problems(extra)
    assert not any("repeat flags" in p for p in problems)


def test_an_ambiguous_prefix_is_refused_as_vllm_would_refuse_it():
    (problem,) = vllm_problems(["--max-num", "3"])
    assert "--max-num is ambiguous to vLLM" in problem
    assert "--max-num-seqs" in problem and "spell the option out" in problem


def test_tgi_takes_no_prefixes_but_its_short_port_and_the_equals_form():
    # clap (launcher/src/main.rs, no infer_long_args): --por is an unknown argument TGI refuses itself, not --port
    assert tgi_problems(["--por", "9999"]) == []
    for extra in (["-p", "80"], ["-p80"], ["--port=80"], ["--max-total-tokens", "9"]):
        (problem,) = tgi_problems(extra)
        assert extra[0] in problem and "TGI refuses a flag given twice" in problem
    # clap has no underscore spelling of --max-total-tokens either
    assert tgi_problems(["--max_total_tokens", "9"]) == []


# --- other repositories: the pre-pull never fetched them and the engine is offline -------------------------

@pytest.mark.parametrize(
    "extra",
    [
        ["--tokenizer", "other/repo"],
        ["--tokenizer=other/repo"],
        ["--tokenizer-", "other/repo"],  # a prefix of --tokenizer-mode and --tokenizer-revision only: ambiguous
        ["--hf-config-path", "other/repo"],
        ["--spec-model", "other/repo"],
        ["--speculative-config", '{"model": "other/repo", "num_speculative_tokens": 3}'],
        ["--speculative-config.model", "other/repo"],
        ["-sc.model", "other/repo"],
    ],
)
def test_vllm_refuses_flags_that_name_another_repository(extra):
    problems = vllm_problems(extra)
    assert len(problems) == 1
    if "ambiguous" in problems[0]:
        return
    assert "other/repo" in problems[0] and "the pre-pull does not fetch" in problems[0]
    assert "remove it" in problems[0] and extra[0] in problems[0]


@pytest.mark.parametrize(
    "extra",
    [
        ["--tokenizer", "mistralai/Mixtral-8x22B-Instruct-v0.1"],  # the model's own repository
        ["--tokenizer", "/opt/tokenizers/mixtral"],  # a path in the image
        ["--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3}'],  # no draft model
        ["--speculative-config.num_speculative_tokens", "3"],
    ],
)
def test_vllm_lets_through_the_models_own_repository_and_local_paths(extra):
    assert vllm_problems(extra) == []


def test_tgi_refuses_lora_adapters_from_other_repositories_on_the_command_line_and_in_env():
    problems = tgi_problems(["--lora-adapters", "a/one,b/two"])
    assert len(problems) == 2 and "a/one" in problems[0] and "b/two" in problems[1]
    # clap's env fallback: LORA_ADAPTERS is --lora-adapters when the command line has none
    (problem,) = tgi_problems([], **{"engine.env": [{"name": "LORA_ADAPTERS", "value": "a/one"}]})
    assert problem.startswith("env LORA_ADAPTERS (= --lora-adapters) names the repository a/one")


# --- repository code ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [["--trust-remote-code"], ["--trust-rem"], ["--trust_remote_code"]])
def test_trust_remote_code_is_refused_unless_the_operator_allows_it(extra):
    (problem,) = vllm_problems(extra)
    assert extra[0] in problem and "allowTrustRemoteCode" in problem and "remove it" in problem
    assert vllm_problems(extra, TRUSTING) == []


def test_turning_remote_code_off_is_always_allowed():
    assert vllm_problems(["--no-trust-remote-code"]) == []


def test_tgi_trust_remote_code_on_the_command_line_and_from_env():
    (problem,) = tgi_problems(["--trust-remote-code"])
    assert "allowTrustRemoteCode" in problem
    (problem,) = tgi_problems([], **{"engine.env": [{"name": "TRUST_REMOTE_CODE", "value": "true"}]})
    assert problem.startswith("env TRUST_REMOTE_CODE")
    # clap's FalseyValueParser: "false" leaves the switch off
    assert tgi_problems([], **{"engine.env": [{"name": "TRUST_REMOTE_CODE", "value": "false"}]}) == []
    assert tgi_problems(["--trust-remote-code"], TRUSTING) == []


# --- how it surfaces: render_all refuses the spec, the controller writes UnsupportedSpec ---------------------

def test_render_all_refuses_the_spec_with_every_problem():
    resource = with_spec(MIXTRAL, **{"engine.extraArgs": ["--por", "9999", "--tokenizer", "other/repo"]})
    with pytest.raises(UnsupportedSpec) as refused:
        render_all(resource, MIXTRAL_PLAN, SETTINGS)
    assert len(refused.value.problems) == 2
    assert "--por (= --port)" in str(refused.value) and "other/repo" in str(refused.value)
