"""The warm-up sidecar seen from outside, as the kubelet's readiness probe sees it (for the engine tier).

``probe`` reads the sidecar's ``/ready`` once; ``poll_until`` polls it in a
bounded loop until a condition holds; ``hurried_sidecar`` starts a second
sidecar with a budget too short for the warm-up set, which must turn Ready
anyway and say so. Shared by the vLLM and TGI warm-up tests.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from support.engine_pod import LocalPod, start_warmup, stop_process
from support.engine_server import free_port

POLL_S = 0.2
MAX_POLLS = 3000  # 10 minutes: the loops are bounded in count as well as by the tests' timeouts


@dataclass(frozen=True)
class Probe:
    status: int  # 0: nothing listening
    phase: str | None
    body: dict | None


def probe(url: str) -> Probe:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
            return Probe(response.status, body["phase"], body)
    except urllib.error.HTTPError as error:
        body = json.load(error)
        return Probe(error.code, body["phase"], body)
    except OSError:
        return Probe(0, None, None)


def poll_until(url: str, done) -> list[Probe]:
    """Probes of ``url`` until ``done(probe)``, oldest first."""
    seen = []
    for _ in range(MAX_POLLS):
        seen.append(probe(url))
        if done(seen[-1]):
            return seen
        time.sleep(POLL_S)
    raise AssertionError(f"/ready never reached the state asked for; last: {seen[-1]}")


def sidecar_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def hurried_sidecar(pod: LocalPod, tmp_path: Path) -> tuple[Probe, str]:
    """A second sidecar on the warm engine with a budget too short for the set: Ready anyway, and says so."""
    port = free_port()
    args = list(pod.warmup_args)
    args[args.index("--timeout-seconds") + 1] = "0.05"
    args[args.index("--port") + 1] = str(port)
    sidecar = start_warmup(replace(pod, warmup_args=args), tmp_path / "hurried.log")
    try:
        ready = poll_until(f"http://127.0.0.1:{port}/ready", lambda p: p.status == 200)[-1]
    finally:
        stop_process(sidecar)
    return ready, (tmp_path / "hurried.log").read_text()
