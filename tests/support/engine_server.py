"""What every real engine server of the tests shares (no pytest needed): a process group on 127.0.0.1.

``EngineServer`` starts an engine's command in its own process group, waits
for ``/health``, and stops the whole group (API server and engine workers)
afterwards; its output goes to a log file that ``log_tail`` returns for
failure messages. ``support.vllm_server`` and ``support.tgi_server`` say
which command and environment; ``engine_servers`` starts several side by
side; ``bounded_load`` sends a bounded burst of completions (aiohttp,
loopback only); ``require_engine`` turns a missing engine build into a
failure in CI and a skip elsewhere.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

STARTUP_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0

Server = TypeVar("Server", bound="EngineServer")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_engine(found: Path | None, message: str) -> Path:
    """For tests: ``found`` when it exists; missing, it fails the test in CI and skips it elsewhere."""
    import pytest  # only the tests call this

    if found is not None and found.exists():
        return found
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class EngineServer:
    """One engine process group; subclasses give ``command``. ``start()`` then ``stop()``."""

    name = "engine"

    def __init__(self, log_path: str | os.PathLike, *, env: Mapping[str, str] | None = None,
                 port: int | None = None, cwd: str | os.PathLike | None = None):
        self.log_path = Path(log_path)
        self.env = dict(env or {})
        self.port = port
        self.cwd = cwd  # where the engine may write what it writes into its working directory
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        raise NotImplementedError

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process without waiting for it (start several, then ``wait_ready`` each)."""
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env}, start_new_session=True,  # own group: stop() ends the workers too
                cwd=self.cwd,
            )

    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before /health answered\n"
                                   f"{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(1.0)
        raise TimeoutError(f"{self.name} did not answer /health within {timeout_s:.0f} s\n{self.log_tail()}")

    def start(self: Server, timeout_s: float = STARTUP_TIMEOUT_S) -> Server:
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
def engine_servers(make: Callable[[int], Server], count: int = 1) -> Iterator[list[Server]]:
    """``count`` servers (``make(i)``) started side by side (startup is slow, so overlap it), stopped on exit."""
    servers = [make(i) for i in range(count)]
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
    extra_body: Mapping[str, object] | None = None,
    statuses_seen: list[int] | None = None,
) -> list[int]:
    """Send ``total`` completions, ``concurrency`` at a time, to a server on this machine.

    Bounded three ways: count (``total``), time (``deadline_s``, or ``stop`` set
    earlier: anything still running then is cancelled) and address (loopback
    only). ``extra_body`` goes into every request (vLLM's ``ignore_eos`` makes
    every request generate ``max_tokens``, so the load is predictable on a
    model with random weights). Returns the HTTP status of each request that
    finished; ``statuses_seen``, if given, gets each status as it comes.
    """
    import urllib.parse

    import aiohttp

    host = urllib.parse.urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load goes to loopback servers only, not {host!r}")
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, **(extra_body or {})}
    gate = asyncio.Semaphore(concurrency)

    async def one(session: aiohttp.ClientSession) -> int:
        async with gate, session.post(f"{base_url}/v1/completions", json=body) as response:
            await response.read()
            if statuses_seen is not None:
                statuses_seen.append(response.status)
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
