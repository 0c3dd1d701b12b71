"""Pure checks the controller makes before it renders: the token Secret opted in, the user's cache holds the files."""

from __future__ import annotations

import pytest

from modelfleet.api.hub_token import HUB_TOKEN_LABEL, hub_token_refusal
from modelfleet.api.spec import SecretKeyRef
from modelfleet.sizing.cache_fit import cache_too_small, checkpoint_gib
from support.render_cases import example, example_plan, with_spec

REF = SecretKeyRef(name="hf-token")


def test_a_secret_labelled_as_a_hub_token_may_be_used():
    assert hub_token_refusal(REF, {HUB_TOKEN_LABEL: "true", "team": "a"}) is None


@pytest.mark.parametrize(("labels", "found"), [
    (None, "it has no such label"),
    ({}, "it has no such label"),
    ({"team": "a"}, "it has no such label"),
    ({HUB_TOKEN_LABEL: "false"}, "its value is 'false'"),
    ({HUB_TOKEN_LABEL: "True"}, "its value is 'True'"),
])
def test_any_other_secret_is_refused_with_the_label_to_set(labels, found):
    message = hub_token_refusal(REF, labels)
    assert message is not None
    assert "Secret hf-token" in message and found in message
    assert "kubectl label secret hf-token modelfleet.io/hub-token=true" in message


def test_the_label_is_named_in_the_install_docs():
    from pathlib import Path
    docs = (Path(__file__).resolve().parents[2] / "docs" / "install.md").read_text()
    assert f"{HUB_TOKEN_LABEL}: \"true\"" in docs


def case(mode: str, size: str | None, quantization: str = "none"):
    resource = with_spec(example("mistral-7b-vllm"), **{"cache": {"mode": mode, **({"size": size} if size else {})},
                                                        "model.quantization": quantization})
    return resource.spec, example_plan("mistral-7b-vllm")


def test_a_cache_that_holds_the_files_or_is_not_sized_passes():
    spec, plan = case("pvc", None)
    assert cache_too_small(spec, plan) is None
    need = checkpoint_gib(spec, plan)
    spec, plan = case("pvc", f"{int(need) + 1}Gi")
    assert cache_too_small(spec, plan) is None
    spec, plan = case("nodeLocal", None)
    assert cache_too_small(spec, plan) is None


@pytest.mark.parametrize("mode", ["pvc", "none"])
def test_a_cache_smaller_than_the_files_says_how_big_it_must_be(mode):
    spec, plan = case(mode, "2Gi")
    need = checkpoint_gib(spec, plan)
    assert need > 2
    message = cache_too_small(spec, plan)
    assert message is not None
    assert message.startswith("spec.cache.size 2Gi (2.0 GiB) cannot hold the model's files")
    assert f"at least {-(-need // 1):.0f}Gi" in message


def test_quantizing_at_load_counts_the_16_bit_checkpoint():
    spec, plan = case("pvc", None, "fp8")
    assert checkpoint_gib(spec, plan) == pytest.approx(plan.parameters * 2 / 2**30)
