"""Fixtures for engine tests: real vLLM and TGI CPU servers on a tiny generated Mixtral-architecture model.

Neither engine is built by tests: the vLLM CPU virtualenv (e2e/engine/venv.sh,
~6 GB) and TGI's CPU build (e2e/engine/tgi/build.sh, ~20 min) come from
``make test``. Without one, its tests skip with the command that builds it,
except in CI (the CI variable is set), where a missing engine is a failure,
not a pass.

Servers start once per session (startup takes a minute or two) and are
stopped at the end; a test that stops one gets it back for the next test
through ``vllm_fleet``'s (``tgi``'s) ``ensure_running``. When a test fails,
the servers' log tails are printed.

TGI runs as its pod runs it: the rendered pre-pull fills a cache from the
local Hub with both tiny models (Mixtral and its dense sibling, Mistral) at a
pinned commit, the Hub stops, the cache turns read-only, and the launcher
starts with the rendered engine container's arguments and environment
(``support.engine_pod``), offline.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from support import tgi_server, tiny_model, vllm_server
from support.engine_pod import (
    TINY_MISTRAL_REPO,
    TINY_REPO,
    LocalPod,
    on_this_machine,
    render_pod,
    run_prepull,
    set_writable,
    tiny_model_repos,
)
from support.hub_server import HubServer

SERVED_MODEL = "tiny-mixtral"
FLEET_SIZE = 2
# The TGI servers' LLMDeployment: a context of 256 tokens, 4 sequences at once, so the launcher gets
# --max-concurrent-requests 16 (QUEUE_ALLOWANCE x maxConcurrency).
TGI_MAX_MODEL_LEN = 256
TGI_MAX_CONCURRENCY = 4


@dataclass
class VllmFleet:
    servers: list[vllm_server.VllmServer]
    model: str = SERVED_MODEL

    def ensure_running(self) -> None:
        """Restart any server a test stopped (slow: only the test that stops one pays for it)."""
        for server in self.servers:
            if not server.running() or not server.healthy():
                server.stop()
                server.start()

    def log_tails(self) -> str:
        return "\n".join(server.log_tail() for server in self.servers)


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    return vllm_server.require_vllm_python()


@pytest.fixture(scope="session")
def tiny_model_dir(vllm_python) -> Path:
    return tiny_model.ensure_tiny_model(vllm_python)


@pytest.fixture(scope="session")
def vllm_servers(vllm_python, tiny_model_dir, tmp_path_factory):
    """Two servers side by side; --max-num-seqs 2 (the default here) makes a dozen requests queue."""
    logs = tmp_path_factory.mktemp("vllm-logs")
    with vllm_server.vllm_servers(vllm_python, tiny_model_dir, logs, count=FLEET_SIZE,
                                  extra_args=("--served-model-name", SERVED_MODEL)) as servers:
        yield VllmFleet(servers)


@pytest.fixture
def vllm_fleet(vllm_servers, request) -> VllmFleet:
    vllm_servers.ensure_running()
    yield vllm_servers
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(vllm_servers.log_tails())


@dataclass(frozen=True)
class TgiCache:
    """The cache volume the rendered pre-pull filled: both tiny models, each at the Hub's commit."""

    root: Path
    commits: dict[str, str]

    def pod(self, repo: str = TINY_REPO, revision: str | None = None, max_concurrency: int = TGI_MAX_CONCURRENCY,
            warmup_port: int = 0) -> LocalPod:
        """The rendered TGI pod for ``repo`` (revision pinned to the commit unless given) on this machine."""
        rendered = render_pod(TGI_MAX_MODEL_LEN, max_concurrency, engine="tgi", model=repo,
                              revision=revision or self.commits[repo])
        return on_this_machine(rendered, self.root, engine_port=vllm_server.free_port(),
                               warmup_port=warmup_port or vllm_server.free_port())


@dataclass
class TgiRunning:
    server: tgi_server.TgiServer
    pod: LocalPod

    def ensure_running(self) -> None:
        if not self.server.running() or not self.server.healthy():
            self.server.stop()
            self.server.start()


@pytest.fixture(scope="session")
def tgi_prefix() -> Path:
    return tgi_server.require_tgi_prefix()


@pytest.fixture(scope="session")
def tgi_models(tgi_prefix) -> dict[str, Path]:
    """The tiny Mixtral and Mistral, by the repo the local Hub serves them as."""
    python = tgi_prefix / "bin" / "python"
    return {TINY_REPO: tiny_model.ensure_tiny_model(python, "mixtral"),
            TINY_MISTRAL_REPO: tiny_model.ensure_tiny_model(python, "mistral")}


@pytest.fixture(scope="session")
def tgi_cache(tgi_models, tmp_path_factory) -> TgiCache:
    """The rendered pre-pull of both models at their commit into one cache; then the Hub goes and the
    cache turns read-only, as the engine container mounts it."""
    root = tmp_path_factory.mktemp("tgi") / "cache"
    repos = tiny_model_repos(tgi_models[TINY_REPO], tgi_models[TINY_MISTRAL_REPO])
    commits = {repo: repos.get(repo).refs["main"] for repo in tgi_models}
    cache = TgiCache(root, commits)
    with HubServer(repos) as hub:
        for repo in tgi_models:
            result = run_prepull(cache.pod(repo), hub.url)
            assert result.returncode == 0, result.stdout + result.stderr
    set_writable(root, False)
    yield cache
    set_writable(root, True)


@pytest.fixture(scope="session")
def tgi_mixtral(tgi_prefix, tgi_cache, tmp_path_factory) -> TgiRunning:
    """One TGI on the tiny Mixtral: the rendered launcher, offline, revision pinned to the commit."""
    pod = tgi_cache.pod(TINY_REPO)
    logs = tmp_path_factory.mktemp("tgi-logs")
    with tgi_server.tgi_servers(tgi_prefix, logs, [pod.engine_args], env=pod.engine_env) as (server,):
        yield TgiRunning(server, pod)


@pytest.fixture
def tgi(tgi_mixtral, request) -> TgiRunning:
    tgi_mixtral.ensure_running()
    yield tgi_mixtral
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(tgi_mixtral.server.log_tail())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
