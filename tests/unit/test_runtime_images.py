"""The Dockerfiles of images/ keep the rules a build here cannot check (there is no Docker engine):
pinned bases, multi-stage, the package installed from its wheel, non-root uid 65532, ``modelfleet`` as entrypoint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ["operator", "runtime"]
# An exact release tag (python:3.11.11-slim-bookworm) or a digest: never a moving tag.
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def instructions(image: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    text = (ROOT / "images" / image / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages(image: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, args in instructions(image):
        if instruction == "FROM":
            result.append([])
        result[-1].append((instruction, args))
    return result


@pytest.mark.parametrize("image", IMAGES)
def test_bases_are_pinned_to_an_exact_release(image):
    bases = [args.split()[0] for instruction, args in instructions(image) if instruction == "FROM"]
    assert len(bases) >= 2, "multi-stage: a build stage and a final stage"
    for base in bases:
        assert PINNED.match(base) and (":" in base or "@" in base), base
        assert "latest" not in base
    assert "latest" not in (ROOT / "images" / image / "Dockerfile").read_text()


@pytest.mark.parametrize("image", IMAGES)
def test_the_final_stage_installs_the_package_wheel_only(image):
    build, final = stages(image)[0], stages(image)[-1]
    assert any(i == "RUN" and "pip wheel" in a and "--wheel-dir /wheels" in a for i, a in build)
    install = [a for i, a in final if i == "RUN" and "pip install" in a]
    assert len(install) == 1 and "--no-index" in install[0] and "--find-links /wheels" in install[0]
    assert not any(i in ("COPY", "ADD") for i, _ in final), "sources and wheels stay in the build stage"


@pytest.mark.parametrize("image", IMAGES)
def test_it_runs_as_the_non_root_user_the_pods_expect(image):
    users = [args for instruction, args in instructions(image) if instruction == "USER"]
    assert users and users[-1] == "65532:65532"


@pytest.mark.parametrize("image", IMAGES)
def test_the_entrypoint_is_modelfleet(image):
    (entrypoint,) = [json.loads(args) for instruction, args in instructions(image) if instruction == "ENTRYPOINT"]
    assert entrypoint == ["modelfleet"]


def test_the_operator_image_runs_the_operator_and_the_runtime_image_takes_its_command_from_the_pod():
    commands = {image: [json.loads(a) for i, a in instructions(image) if i == "CMD"] for image in IMAGES}
    assert commands == {"operator": [["run"]], "runtime": []}


@pytest.mark.parametrize("image", IMAGES)
def test_what_the_build_copies_exists_and_the_context_is_narrowed(image):
    for instruction, args in instructions(image):
        if instruction == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    lines = (ROOT / "images" / image / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*" and {"!pyproject.toml", "!README.md", "!operator/"} <= set(rules)
