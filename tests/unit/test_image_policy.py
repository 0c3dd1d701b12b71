"""Which engine images a tenant may run (controller.decide.image_policy)."""

from __future__ import annotations

import pytest
from test_controller_decide import SPEC, T0, condition, llmd, snapshot

from modelfleet.api import OperatorSettings, parse_llmdeployment
from modelfleet.controller.decide import decide
from modelfleet.controller.decide.image_policy import REASON, image_refusal
from modelfleet.engines import tgi, vllm


def with_image(image: str | None):
    spec = {**SPEC, "engine": {**SPEC.get("engine", {"kind": "vllm"}), **({"image": image} if image else {})}}
    return parse_llmdeployment(llmd(spec))


@pytest.mark.parametrize("image", [None, vllm.PROFILE.default_image, tgi.PROFILE.default_image])
def test_by_default_only_the_operators_own_images(image):
    assert image_refusal(with_image(image), OperatorSettings()) is None


def test_another_image_is_refused_naming_the_field_and_how_to_widen_it():
    refusal = image_refusal(with_image("evil.example.com/miner:latest"), OperatorSettings())
    assert refusal is not None and refusal.reason == REASON
    for words in ("spec.engine.image evil.example.com/miner:latest", vllm.PROFILE.default_image, "allowedEngineImages"):
        assert words in refusal.message


def test_the_admins_patterns_replace_the_defaults():
    settings = OperatorSettings(allowed_engine_images=["registry.example.com/vllm/*"])
    assert image_refusal(with_image("registry.example.com/vllm/openai:v1"), settings) is None
    assert image_refusal(with_image(vllm.PROFILE.default_image), settings) is not None
    configured = OperatorSettings(engine_images={"vllm": "mirror.example.com/vllm:v1"})
    assert image_refusal(with_image("mirror.example.com/vllm:v1"), configured) is None


def test_a_refused_image_creates_nothing():
    intent = decide(snapshot(llmd({**SPEC, "engine": {"kind": "vllm", "image": "evil.example.com/x:1"}})),
                    OperatorSettings(), T0)
    assert intent.apply == () and condition(intent, "Degraded") == ("True", REASON)
