"""The engine profiles: one per engine kind, complete, consistent with their parsers, and the only place
engines are named."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from modelfleet.api.spec import EngineKind
from modelfleet.engines import PROFILES, Setting, profile_for
from modelfleet.engines.metrics import metrics_for
from modelfleet.engines.vllm import FLAGS_FILE, VLLM_VERSION

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "modelfleet"


def test_one_profile_per_engine_kind_in_one_registry():
    assert sorted(PROFILES) == sorted(get_args(EngineKind))
    for kind, profile in PROFILES.items():
        assert profile.kind == kind and profile_for(kind) is profile
        assert metrics_for(kind) is profile.metrics


def test_no_engine_is_named_outside_the_profiles():
    """Sizing, render, the runtime and the controller ask the profile; a quoted engine kind elsewhere is a leak."""
    kinds = "|".join(get_args(EngineKind))
    quoted = re.compile(rf"""["']({kinds})["']""")
    allowed = {PACKAGE / "api" / "spec.py"}  # EngineKind itself and the spec's default
    leaks = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        if "engines" not in path.relative_to(PACKAGE).parts[:1] and path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if quoted.search(line) and not line.lstrip().startswith("#")
    ]
    assert leaks == []


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_every_owned_flag_is_an_option_of_the_engines_parser(kind):
    profile = profile_for(kind)
    options = profile.parser.options
    for owned in profile.owned_flags:
        assert options.get(owned.flag) == owned.flag, owned.flag
    for hub_flag in profile.hub_repo_flags:
        assert hub_flag.flag in options
    assert profile.trust_remote_code_flag in options


@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_every_setting_a_profile_uses_is_one_the_renderer_knows(kind):
    from modelfleet.render.engine_args import SETTINGS

    assert {owned.setting for owned in profile_for(kind).owned_flags} <= set(SETTINGS) == set(Setting)


def test_the_vllm_option_list_is_the_pinned_versions_and_takes_prefixes():
    listing = json.loads((PACKAGE / "engines" / "data" / FLAGS_FILE).read_text())
    assert listing["vllm_version"] == VLLM_VERSION
    assert listing["allow_abbrev"] is True  # argparse's default, which FlexibleArgumentParser keeps
    rules = profile_for("vllm").parser
    assert rules.prefixes and rules.underscores_are_dashes and rules.dotted_keys
    assert rules.options["-tp"] == "--tensor-parallel-size" and rules.options["-q"] == "--quantization"
    assert rules.options["--no-enable-expert-parallel"] == "--enable-expert-parallel"


def test_tgis_launcher_takes_no_prefixes_and_reads_the_environment():
    rules = profile_for("tgi").parser
    assert not rules.prefixes and not rules.underscores_are_dashes and rules.env_fallback
    assert rules.options["-p"] == "--port"
