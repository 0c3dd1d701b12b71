"""modelfleet on the local control plane: the chart installed, the operator running as its ServiceAccount.

The local control plane's pods are kwok fakes that run nothing, so the
operator runs here as a process (`modelfleet run`), authenticated with a token
of the chart's ServiceAccount: every request it makes passes the chart's RBAC,
exactly as it would in a pod.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "modelfleet"
RELEASE = "modelfleet"
OPERATOR_NAMESPACE = "modelfleet-system"
# Where the operator runs as a process (OperatorProcess), the chart's own operator pod goes to a kwok node
# and runs nothing (the file says why).
IDLE_CHART_OPERATOR = ("-f", str(ROOT / "e2e" / "local" / "values-idle-operator.yaml"))
# The settings of the operator run as a process: its LLMDeployments' router pods go to kwok's nodes (only the
# untainted cpu pool's take them), where they run nothing, never to the real node, whose 2 cores are the
# engines' there. (The chart's operator on the real node puts them there instead: e2e/local/values.yaml.)
PROCESS_SETTINGS: dict[str, object] = {"router": {"nodeSelector": {"type": "kwok"}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def install_chart(helm: Path, kubeconfig: Path, *extra: str) -> None:
    subprocess.run(
        [str(helm), "upgrade", "--install", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE,
         # --reset-values: each install says all its values; none linger from the last one.
         "--create-namespace", "--reset-values", "--kubeconfig", str(kubeconfig), "--wait", "--timeout", "180s",
         *extra],
        check=True, capture_output=True, text=True,
    )


def service_account_kubeconfig(kubectl: Path, admin_kubeconfig: Path, out: Path) -> Path:
    """A kubeconfig for the chart's ServiceAccount (same context name, so the guards accept it)."""
    token = subprocess.run(
        [str(kubectl), f"--kubeconfig={admin_kubeconfig}", "-n", OPERATOR_NAMESPACE, "create", "token",
         RELEASE, "--duration=6h"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    config = yaml.safe_load(admin_kubeconfig.read_text())
    user = config["contexts"][0]["context"]["user"]
    config["users"] = [{"name": user, "user": {"token": token}}]
    out.write_text(yaml.safe_dump(config))
    return out


@dataclass
class OperatorProcess:
    """`modelfleet run` in a subprocess; its log is kept for failure reports."""

    kubeconfig: Path
    log: Path
    resync_seconds: float = 2.0
    command: str = str(Path(sys.executable).parent / "modelfleet")
    extra_env: dict[str, str] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)  # --namespace for each; none: every namespace
    verbose: bool = True  # debug logs for failure reports; the benchmark runs as the chart does, without
    settings: dict[str, object] = field(default_factory=lambda: dict(PROCESS_SETTINGS))  # OperatorSettings
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    liveness_port: int = 0

    def start(self) -> OperatorProcess:
        self.metrics_port, self.liveness_port = free_port(), free_port()
        settings_file = self.log.with_name(self.log.stem + "-settings.yaml")
        settings_file.write_text(yaml.safe_dump(self.settings))
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "MODELFLEET_RESYNC_SECONDS": str(self.resync_seconds),
            "HF_HUB_OFFLINE": "1",  # bundled model configs only: no network in tests
            **self.extra_env,
        }
        env["MODELFLEET_SETTINGS"] = str(settings_file)
        command = [
            self.command, "run", *(["--verbose"] if self.verbose else []),
            f"--metrics-port={self.metrics_port}", f"--liveness-port={self.liveness_port}",
            *(f"--namespace={ns}" for ns in self.namespaces),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self._wait_alive()
        return self

    def _wait_alive(self, timeout: float = 60) -> None:
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}:\n{self.tail()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the operator was not alive after {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: the crash a restart must recover from."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text: str = response.read().decode()
        return text

    def reconciles(self) -> float:
        """Reconciles the operator has done, every outcome (its ``modelfleet_reconcile_total`` counter)."""
        from prometheus_client.parser import text_string_to_metric_families

        return sum(sample.value for family in text_string_to_metric_families(self.metrics())
                   for sample in family.samples if sample.name == "modelfleet_reconcile_total")

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""
