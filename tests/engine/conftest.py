"""Fixtures for engine tests: real vLLM CPU servers on a tiny generated Mixtral-architecture model.

The vLLM CPU virtualenv (e2e/engine/venv.sh, ~6 GB) is not built by tests.
Without it, engine tests skip with the command that builds it, except in CI
(the CI variable is set), where a missing engine is a failure, not a pass.

Servers start once per session (startup takes a minute or two) and are
stopped at the end; a test that stops one gets it back for the next test
through ``vllm_fleet``'s ``ensure_running``. When a test fails, the servers'
log tails are printed.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import tiny_model  # noqa: E402  (tests/support is not an installed package)
import vllm_server  # noqa: E402

SERVED_MODEL = "tiny-mixtral"
FLEET_SIZE = 2


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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
