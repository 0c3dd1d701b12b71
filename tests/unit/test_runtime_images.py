"""images/Dockerfile keeps its rules: a pinned public base by default (the build here swaps it for a
local one, so only this test reads the default), multi-stage, the package installed from its wheel,
non-root uid 65532, ``modelfleet`` as entrypoint; the operator and runtime targets are the same install.
The images themselves are built and run on the local cluster's real node (e2e/local/localcluster/images.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "Dockerfile"
# An exact release tag (python:3.11.11-slim-bookworm) or a digest: never a moving tag.
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order after the global ARGs, with ${BASE_IMAGE} at its default;
    continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    first_from = next(i for i, (instruction, _) in enumerate(parsed) if instruction == "FROM")
    defaults = dict(args.split("=", 1) for instruction, args in parsed[:first_from] if instruction == "ARG")
    return [(i, args.replace("${BASE_IMAGE}", defaults["BASE_IMAGE"])) for i, args in parsed[first_from:]]


def stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Stage name -> (what it is FROM, its instructions)."""
    result: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] = []
    for instruction, args in instructions():
        if instruction == "FROM":
            base, _, name = args.split()
            current = []
            result[name] = (base, current)
        else:
            current.append((instruction, args))
    return result


def image(target: str) -> list[tuple[str, str]]:
    """A target's instructions, its parent stages' included (what the built image holds)."""
    base, own = stages()[target]
    return (image(base) if base in stages() else []) + own


def test_bases_are_pinned_to_an_exact_release():
    bases = [base for base, _ in stages().values() if base not in stages()]
    assert len(bases) >= 2, "multi-stage: a build stage and a final stage"
    for base in bases:
        assert PINNED.match(base) and (":" in base or "@" in base), base
    assert "latest" not in DOCKERFILE.read_text()


def test_the_images_install_the_package_wheel_only():
    assert any(i == "RUN" and "pip wheel" in a and "--wheel-dir /wheels" in a for i, a in stages()["wheels"][1])
    for target in ("operator", "runtime"):
        install = [a for i, a in image(target) if i == "RUN" and "pip install" in a]
        assert len(install) == 1 and "--no-index" in install[0] and "--find-links /wheels" in install[0]
        assert not any(i in ("COPY", "ADD") for i, _ in image(target)), "sources and wheels stay in the build stage"


def test_they_run_as_the_non_root_user_the_pods_expect():
    for target in ("operator", "runtime"):
        users = [args for instruction, args in image(target) if instruction == "USER"]
        assert users and users[-1] == "65532:65532"


def test_the_entrypoint_is_modelfleet():
    for target in ("operator", "runtime"):
        (entrypoint,) = [json.loads(a) for i, a in image(target) if i == "ENTRYPOINT"]
        assert entrypoint == ["modelfleet"]


def test_the_operator_image_runs_the_operator_and_the_runtime_image_takes_its_command_from_the_pod():
    commands = {target: [json.loads(a) for i, a in image(target) if i == "CMD"] for target in ("operator", "runtime")}
    assert commands == {"operator": [["run"]], "runtime": []}


def test_what_the_build_copies_exists_and_the_context_is_narrowed():
    for instruction, args in instructions():
        if instruction == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    lines = (ROOT / "images" / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*" and {"!pyproject.toml", "!README.md", "!operator/"} <= set(rules)
