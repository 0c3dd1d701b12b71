"""Engine /metrics on the local control plane's pod addresses.

kwok's pods run nothing, but their IPs are loopback addresses
(``localcluster.settings.KWOK_CIDR``), so a test can answer the operator's
scrapes there: each ready engine pod gets a small HTTP server on
``<podIP>:8000`` that serves a recorded vLLM 0.32 exposition with the queue
and batch the test sets. Everything the operator then does (scrape, decide,
scale the Deployment) is its real code against a real API server.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDED = (Path(__file__).parent / "metrics" / "vllm-0.32.txt").read_text()
ENGINE_PORT = 8000


class FakeEngines:
    """One metrics server per pod IP, all reporting the same load."""

    def __init__(self) -> None:
        self.waiting = 0.0
        self.running = 0.0
        self.num_gpu_blocks = 8192  # the recorded server's KV cache: 8192 blocks of 128 tokens
        self.scrapes = 0
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._silenced: set[str] = set()
        self._lock = threading.Lock()

    def set_load(self, waiting: float, running: float) -> None:
        self.waiting, self.running = waiting, running

    def exposition(self) -> str:
        text = re.sub(r"^(vllm:num_requests_waiting\{[^}]*\}) \S+$", rf"\g<1> {self.waiting}", RECORDED, flags=re.M)
        text = text.replace('num_gpu_blocks="8192"', f'num_gpu_blocks="{self.num_gpu_blocks}"')
        return re.sub(r"^(vllm:num_requests_running\{[^}]*\}) \S+$", rf"\g<1> {self.running}", text, flags=re.M)

    def serve(self, ip: str) -> None:
        with self._lock:
            if ip in self._servers or ip in self._silenced:
                return
            server = ThreadingHTTPServer((ip, ENGINE_PORT), self._handler())
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers[ip] = server

    def stop(self, ip: str) -> None:
        with self._lock:
            server = self._servers.pop(ip, None)
        if server is not None:
            server.shutdown()
            server.server_close()

    def silence(self, ip: str) -> None:
        """The replica at ``ip`` stops answering, for good: a scrape that fails."""
        with self._lock:
            self._silenced.add(ip)
        self.stop(ip)

    def unsilence(self, ip: str) -> None:
        with self._lock:
            self._silenced.discard(ip)
        self.serve(ip)

    def stop_all(self) -> None:
        for ip in list(self._servers):
            self.stop(ip)

    @property
    def addresses(self) -> list[str]:
        return sorted(self._servers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        engines = self

        class MetricsHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                engines.scrapes += 1
                body = engines.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return MetricsHandler


@contextmanager
def following_pods(core, namespace: str, name: str) -> Iterator[FakeEngines]:
    """FakeEngines that serve each engine pod of LLMDeployment ``name`` as soon as it has an IP, for as long as
    the block runs (``core``: a kubernetes ``CoreV1Api``); every server is stopped at the end."""
    fake = FakeEngines()
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(0.3):
            engine_pods = f"modelfleet.io/llmdeployment={name},app.kubernetes.io/component=engine"  # not the routers
            for pod in core.list_namespaced_pod(namespace, label_selector=engine_pods).items:
                if pod.status.pod_ip:
                    fake.serve(pod.status.pod_ip)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        yield fake
    finally:
        stop.set()
        follower.join()
        fake.stop_all()
