"""The rendered objects of each example, compared with a reviewed golden file.

A change to rendering shows up as a diff of ``tests/unit/golden/<example>.yaml``
in the pull request, reviewed like code. After an intended change, rewrite
the files and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render_golden.py    (make golden)
"""

from __future__ import annotations

import os

import pytest

from modelfleet.api import OperatorSettings
from modelfleet.render import render_all, to_yaml
from support.render_cases import EXAMPLES, GOLDEN_DIR, example, example_plan

HEADER = (
    "# Rendered from examples/{name}.yaml with the plan in plans.yaml, in namespace llm.\n"
    "# Regenerate with `make golden` and review the diff like code.\n"
)


def rendered(name: str) -> str:
    return HEADER.format(name=name) + to_yaml(render_all(example(name), example_plan(name), OperatorSettings()))


@pytest.mark.parametrize("name", EXAMPLES)
def test_rendering_matches_the_golden_file(name):
    golden = GOLDEN_DIR / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered(name))
    assert golden.exists(), f"no golden file for {name}: run `make golden`"
    assert rendered(name) == golden.read_text(), f"{golden.name} differs: run `make golden` and review the diff"


def test_every_golden_file_has_an_example():
    goldens = {p.stem for p in GOLDEN_DIR.glob("*.yaml")} - {"plans"}
    assert goldens == set(EXAMPLES)
