"""Start, load and stop real TGI (text-generation-inference) CPU servers for tests (no pytest needed).

TGI is built from source for the CPU by ``e2e/engine/tgi/build.sh`` into an
install prefix outside the repo: a virtualenv with the Python server whose
``bin/`` also holds the Rust launcher and router. ``find_tgi_prefix`` locates
it *without* building it (``build.sh --print-prefix``), so a test run never
starts a 15-minute build by surprise; ``make test`` builds it first.

``TgiServer`` runs ``text-generation-launcher`` with the arguments it is
given, which for the engine tier are the rendered engine container's
(``support.engine_pod``), as a ``support.engine_server.EngineServer``. The
launcher starts the Python shard (``text-generation-server``) and the router
(``text-generation-router``) from ``PATH``, so the prefix's ``bin/`` goes
first. What makes two servers coexist on one machine is environment, never
flags, so the rendered arguments stay exactly as rendered: each gets its own
shard socket path (``SHARD_UDS_PATH``, ``launcher/src/main.rs`` ``Args``).
One OpenMP thread each: the CPU path runs transformers' ``CausalLM``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from .engine_server import EngineServer, engine_servers, require_engine

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "e2e" / "engine" / "tgi" / "build.sh"
COMPLETE_MARKER = ".modelfleet-complete"  # written by build.sh as its last step
PREFIX_VARIABLE = "MODELFLEET_TGI_PREFIX"
# tracing-subscriber's compact format colours its fields, in a file too.
ANSI = re.compile(r"\x1b\[[0-9;]*m")

DEFAULT_ENV = {
    "OMP_NUM_THREADS": "1",  # two servers on 2 cores
    "HF_HUB_OFFLINE": "1",  # the model is in the cache; never reach for a hub
}


def tgi_prefix_path() -> Path:
    """Where build.sh puts (or has put) the build for the tarball, patches and script of this checkout."""
    if PREFIX_VARIABLE in os.environ:
        return Path(os.environ[PREFIX_VARIABLE])
    printed = subprocess.run(["bash", str(BUILD_SCRIPT), "--print-prefix"], capture_output=True, text=True,
                             timeout=60)
    if printed.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} --print-prefix failed: {printed.stderr.strip()}")
    return Path(printed.stdout.strip().splitlines()[-1])


def find_tgi_prefix() -> Path | None:
    """The TGI build's prefix, or None when it is not (completely) built."""
    try:
        prefix = tgi_prefix_path()
    except RuntimeError:
        return None
    return prefix if (prefix / COMPLETE_MARKER).is_file() else None


def require_tgi_prefix() -> Path:
    """For tests: the TGI build's prefix. Missing, it fails the test in CI and skips it elsewhere."""
    try:
        where = str(tgi_prefix_path())
    except RuntimeError as error:
        where = str(error)
    return require_engine(find_tgi_prefix(), f"TGI for the CPU is not built ({where}); build it once with "
                                             "e2e/engine/tgi/build.sh (~20 min), or deselect with -m 'not engine'")


class TgiServer(EngineServer):
    """One TGI launcher (shard + router) on 127.0.0.1; ``start()`` then ``stop()``.

    ``args`` are the launcher's whole command line, ``--hostname`` and
    ``--port`` included (``port`` is read from them).
    """

    name = "TGI"

    def __init__(self, prefix: str | os.PathLike, log_path: str | os.PathLike, *, args: Sequence[str],
                 env: Mapping[str, str] | None = None):
        self.prefix = Path(prefix)
        self.args = list(args)
        # A short private directory: a unix socket path must stay under 108 bytes. It is the launcher's
        # working directory too: the router saves the tokenizer it resolved with transformers to ./out
        # (router/src/server.rs py_resolve_tokenizer) and loads out/tokenizer.json from there.
        self.sockets = Path(tempfile.mkdtemp(prefix="tgi-"))
        super().__init__(log_path, port=int(self.args[self.args.index("--port") + 1]), cwd=self.sockets, env={
            **DEFAULT_ENV, **(env or {}),
            "PATH": f"{self.prefix / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "SHARD_UDS_PATH": str(self.sockets / "shard"),
        })

    @property
    def command(self) -> list[str]:
        return [str(self.prefix / "bin" / "text-generation-launcher"), *self.args]

    def log_text(self) -> str:
        """The launcher's output (its own, the shard's and the router's lines) without terminal colours."""
        if not self.log_path.is_file():
            return ""
        return ANSI.sub("", self.log_path.read_text(errors="replace"))

    def log_tail(self, lines: int = 80) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)

    def router_command_line(self) -> list[str]:
        """The arguments the launcher started its router with (``/proc/<pid>/cmdline``), for what it passed on."""
        for pid in _descendants(self.process.pid):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].decode().endswith("text-generation-router"):
                return [a.decode() for a in argv if a]
        raise LookupError(f"no text-generation-router under the launcher {self.process.pid}\n{self.log_tail()}")

    def launch(self) -> None:
        self.sockets.mkdir(exist_ok=True)  # again after a stop(): the test restarts engines
        super().launch()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.sockets, ignore_errors=True)

    def generate(self, prompt: str = "Hello", max_new_tokens: int = 2) -> dict:
        """One request to ``/generate``. Until the router has served one, its ``/metrics`` is empty:
        metrics-exporter-prometheus renders only series that were set, and ``tgi_queue_size`` is first
        set by a request (``backends/v3/src/queue.rs``)."""
        body = json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens, "details": True}})
        request = urllib.request.Request(f"{self.base_url}/generate", body.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (from /proc), nearest first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


@contextmanager
def tgi_servers(prefix: str | os.PathLike, log_dir: str | os.PathLike, launches: Sequence[Sequence[str]],
                env: Mapping[str, str] | None = None) -> Iterator[list[TgiServer]]:
    """One server per argument list in ``launches``, started side by side, stopped on exit."""
    with engine_servers(lambda i: TgiServer(prefix, Path(log_dir) / f"tgi-{i}.log", args=launches[i], env=env),
                        len(launches)) as servers:
        yield servers
