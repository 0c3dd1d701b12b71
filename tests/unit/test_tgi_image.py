"""The TGI CPU test image (e2e/local/images/tgi-cpu.Dockerfile) takes the operator's rendered TGI container
as upstream's image does: no command of ours, upstream's entrypoint (tgi-entrypoint.sh: activate the
virtualenv, exec text-generation-launcher with the args), built with no network from the TGI build's outputs.
The entrypoint itself runs the real launcher in tests/engine/test_tgi_flags.py; the image is built by
e2e/local/localcluster/images.py build_tgi_image.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelfleet.engines.tgi import PROFILE, TGI_VERSION

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "e2e" / "local" / "images"
DOCKERFILE = (IMAGES / "tgi-cpu.Dockerfile").read_text()
ENTRYPOINT = (IMAGES / "tgi-entrypoint.sh").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comment lines dropped (inside continuations too), continuations joined."""
    kept = "\n".join(line for line in DOCKERFILE.splitlines() if not line.strip().startswith("#"))
    joined = re.sub(r"\\\n\s*", " ", kept)
    lines = [line.strip() for line in joined.splitlines() if line.strip()]
    return [(line.split(None, 1)[0].upper(), (line.split(None, 1) + [""])[1]) for line in lines]


def test_the_rendered_container_sets_no_command_so_the_entrypoint_runs_the_launcher():
    assert PROFILE.command == ()
    found = dict(instructions())
    assert found["ENTRYPOINT"] == '["/tgi-entrypoint.sh"]'
    assert "CMD" not in found  # the pod's args are the launcher's, as upstream's image takes them
    assert "COPY tgi-entrypoint.sh /tgi-entrypoint.sh" in [f"{i} {a}" for i, a in instructions()]
    assert found["WORKDIR"] == "/usr/src"  # the router writes ./out (router/src/server.rs py_resolve_tokenizer)


def test_the_entrypoint_is_upstreams_with_our_virtualenv():
    commands = [line for line in ENTRYPOINT.splitlines() if line and not line.startswith("#")]
    assert commands == [
        "ldconfig 2>/dev/null || echo 'unable to refresh ld cache, not a big deal in most cases'",
        "source /opt/tgi/bin/activate",
        'exec text-generation-launcher "$@"',
    ]
    assert (IMAGES / "tgi-entrypoint.sh").stat().st_mode & 0o111  # executable: COPY keeps the mode


def test_the_binaries_sit_in_the_virtualenv_and_the_install_is_offline():
    found = instructions()
    run = next(args for i, args in found if i == "RUN")
    assert "--no-index" in run and "--mount=type=bind,source=wheelhouse" in run
    assert ("COPY", "bin/text-generation-launcher bin/text-generation-router /opt/tgi/bin/") in found
    env = next(args for i, args in found if i == "ENV")
    for setting in ("HF_HOME=/data", "HF_HUB_ENABLE_HF_TRANSFER=1", "PORT=80"):  # upstream's base stage
        assert setting in env


def test_the_tag_is_the_pinned_version_and_the_build_has_no_network():
    from localcluster import images

    assert images.tgi_image() == f"localhost/modelfleet/tgi-cpu:{TGI_VERSION}"
    assert '"--network=none"' in Path(images.__file__).read_text()
