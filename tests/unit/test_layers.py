"""The layers of DESIGN.md hold: import-linter's contracts are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [lint_imports, "--config", ROOT / ".importlinter", "--no-cache"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_engine_profiles_are_a_layer_below_sizing():
    """Sizing asks an engine's profile (issue 15): modelfleet.engines sits between sizing and catalog."""
    config = (ROOT / ".importlinter").read_text()
    layers = config.split("layers =", 1)[1].split("\n\n", 1)[0].split()
    assert layers == [
        "modelfleet.cli",
        "modelfleet.controller",
        "modelfleet.runtime", "|", "modelfleet.autoscale", "|", "modelfleet.render",
        "modelfleet.sizing",
        "modelfleet.engines",
        "modelfleet.catalog",
        "modelfleet.api",
    ]
    forbidden_sources = config.split("source_modules =", 1)[1].split("forbidden_modules", 1)[0].split()
    assert "modelfleet.engines" in forbidden_sources


def test_decide_is_held_pure_by_a_contract():
    """Issue 24: the whole decide package, and no API client, HTTP, metrics, clock or threads in it."""
    config = (ROOT / ".importlinter").read_text()
    contract = config.split("[importlinter:contract:decide-is-pure]", 1)[1].split("\n\n", 1)[0]
    sources = contract.split("source_modules =", 1)[1].split("forbidden_modules", 1)[0].split()
    forbidden = contract.split("forbidden_modules =", 1)[1].split()
    assert sources == ["modelfleet.controller.decide"]
    assert {"kubernetes", "kopf", "aiohttp", "time", "datetime"} <= set(forbidden)
