"""The real TGI launcher takes the operator's rendered arguments and environment as they are.

The session's TGI (``tgi`` fixture) was started with the engine container's
arguments exactly as ``render`` wrote them for a TGI LLMDeployment of the
tiny Mixtral (only the address and port are this machine's): the launcher
parsed them (it logs its ``Args``), started its shard and router, and the
router reports the limits we set. Telemetry (defect c): the rendered
``USAGE_STATS=off`` reaches the router as ``--usage-stats off``
(``launcher/src/main.rs``: ``router_args.push("--usage-stats")``), the
level at which ``router/src/server.rs`` ``run`` makes no telemetry client;
without it the launcher passes ``on`` and the router posts to
huggingface.co whenever ``/proc/self/cgroup`` says container (every pod).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from modelfleet.engines import profile_for
from modelfleet.engines.flags import flag_uses
from support import tgi_server
from support.tgi_server import ANSI

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

ENTRYPOINT = Path(__file__).resolve().parents[2] / "e2e" / "local" / "images" / "tgi-entrypoint.sh"

# The launcher's Debug name of each rendered flag (launcher/src/main.rs struct Args) and how the value prints.
DEBUG_FIELDS = {
    "--model-id": ("model_id", '"{}"'),
    "--revision": ("revision", 'Some(\n        "{}",\n    )'),
    "--hostname": ("hostname", '"{}"'),
    "--port": ("port", "{}"),
    "--num-shard": ("num_shard", "Some(\n        {},\n    )"),
    "--max-input-tokens": ("max_input_tokens", "Some(\n        {},\n    )"),
    "--max-total-tokens": ("max_total_tokens", "Some(\n        {},\n    )"),
    "--max-concurrent-requests": ("max_concurrent_requests", "{}"),
    "--cuda-memory-fraction": ("cuda_memory_fraction", "{}"),
    "--max-batch-prefill-tokens": ("max_batch_prefill_tokens", "Some(\n        {},\n    )"),
}


def pairs(args: list[str]) -> dict[str, str]:
    return dict(zip(args[::2], args[1::2], strict=True))


def test_the_launcher_takes_every_rendered_flag(tgi):
    rendered = pairs(tgi.pod.engine_args)
    assert set(rendered) == set(DEBUG_FIELDS), "a flag the renderer writes has no check here"
    log = tgi.server.log_text()
    for flag, value in rendered.items():
        field, shape = DEBUG_FIELDS[flag]
        assert f"    {field}: {shape.format(value)}," in log, (flag, value, tgi.server.log_tail(200))

    with urllib.request.urlopen(f"{tgi.server.base_url}/info", timeout=10) as response:
        info = json.load(response)
    assert info["model_id"] == rendered["--model-id"]
    assert info["max_input_tokens"] == int(rendered["--max-input-tokens"])
    assert info["max_total_tokens"] == int(rendered["--max-total-tokens"])
    assert info["max_concurrent_requests"] == int(rendered["--max-concurrent-requests"])


def test_the_router_gets_usage_stats_off(tgi):
    router = tgi.server.router_command_line()
    assert router[router.index("--usage-stats") + 1] == "off", router
    assert "    usage_stats: Off," in tgi.server.log_text()
    assert tgi.pod.engine_env.get("USAGE_STATS") == "off"  # rendered (engines.tgi PROFILE.env), not a flag
    assert "--usage-stats" not in tgi.pod.engine_args


# extraArgs resolve as the launcher's clap parser resolves them: each token list with what the launcher
# printed in its Args for it, or a refusal. The probe makes the launcher stop right after printing its Args:
# --max-input-length with --max-input-tokens is refused next (launcher/src/main.rs main, before anything starts).
TOKENS = [
    ["--port", "9999"],
    ["-p", "9999"],
    ["--port=9999"],
    ["--por", "9999"],  # no prefixes in clap
    ["--max_total_tokens", "5"],  # no underscores for dashes
    ["--port", "1", "--port", "2"],  # a flag given twice
    ["--trust-remote-code"],
    ["--lora-adapters", "acme/a,acme/b"],
    ["--max-concurrent-requests=7"],
]
STOP = ["--max-input-tokens", "10", "--max-input-length", "10"]
ARGS_FIELD = re.compile(r"^    (\w+): (.*?),\n(?=    \w+: |\})", re.M | re.S)


def printed_args(output: str) -> dict[str, str]:
    """The launcher's ``Args`` as it logs them (``{:#?}``): field name -> its printed value."""
    dump = output[output.index("Args {"):]
    return dict(ARGS_FIELD.findall(dump[:dump.index("\n}") + 2]))


def test_extra_args_resolve_as_the_launchers_own_parser_resolves_them(tgi_prefix, tmp_path):
    rules = profile_for("tgi").parser
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HUGGINGFACE_HUB_CACHE": str(tmp_path), "USAGE_STATS": "off"}
    launcher = str(tgi_prefix / "bin" / "text-generation-launcher")
    defaults = printed_args(ANSI.sub("", subprocess.run(
        [launcher, "--model-id", "acme/none", *STOP], capture_output=True, text=True, env=env, timeout=60).stdout))
    for tokens in TOKENS:
        ours = list(flag_uses(tokens, rules))
        refused_by_us = any(use.option is None for use in ours) or len({u.flag for u in ours}) < len(ours)
        result = subprocess.run([launcher, "--model-id", "acme/none", *tokens, *STOP], capture_output=True,
                                text=True, env=env, timeout=60)
        output = ANSI.sub("", result.stdout + result.stderr)
        if refused_by_us:
            assert result.returncode == 2 and "error:" in output, (tokens, output[-2000:])  # clap's usage error
            continue
        assert "Both `max_input_tokens` (10) and `max_input_length` (10) are set" in output, (tokens, output[-2000:])
        printed = printed_args(output)
        changed = {name for name, value in printed.items() if defaults[name] != value}
        assert changed == {use.flag.removeprefix("--").replace("-", "_") for use in ours}, (tokens, changed)
        for use in ours:
            value = printed[use.flag.removeprefix("--").replace("-", "_")]
            assert (use.value or "true") in value, (tokens, use, value)


class ThroughTheImageEntrypoint(tgi_server.TgiServer):
    """The launcher started as the TGI CPU image starts it: its entrypoint script with the pod's args,
    the image's /opt/tgi being this machine's build."""

    def __init__(self, entrypoint: Path, *args, **options):
        super().__init__(*args, **options)
        self.entrypoint = entrypoint

    @property
    def command(self) -> list[str]:
        return ["bash", str(self.entrypoint), *self.args]


def test_the_image_entrypoint_takes_the_rendered_container_as_is(tgi_prefix, tgi_cache, tmp_path):
    """No command in the rendered container: the image's entrypoint gets the args (upstream's contract)."""
    # This machine's build for the image's /opt/tgi; and no ldconfig here (it would rewrite this machine's
    # /etc/ld.so.cache; in the image it is upstream's harmless refresh).
    script = ENTRYPOINT.read_text().replace("/opt/tgi", str(tgi_prefix)).replace("\nldconfig ", "\ntrue ")
    assert "\ntrue 2>/dev/null ||" in script
    entrypoint = tmp_path / "tgi-entrypoint.sh"
    entrypoint.write_text(script)
    pod = tgi_cache.pod()
    server = ThroughTheImageEntrypoint(entrypoint, tgi_prefix, tmp_path / "tgi.log", args=pod.engine_args,
                                       env=pod.engine_env)
    # The image's PATH does not have the build's bin/: the entrypoint's activation must put it first.
    server.env["PATH"] = os.environ["PATH"]
    try:
        server.start()
        answer = server.generate("Le renard brun rapide", 4)
    finally:
        server.stop()
    assert answer["details"]["generated_tokens"] >= 1
    assert "    usage_stats: Off," in server.log_text()
