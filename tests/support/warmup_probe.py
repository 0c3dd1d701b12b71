"""The warm-up sidecar seen from outside, as the kubelet's readiness probe sees it (for the engine tier).

``probe`` reads the sidecar's ``/ready`` once; ``poll_until`` polls it in a
bounded loop until a condition holds; ``hurried_sidecar`` starts a second
sidecar with a budget too short for the warm-up set, which must turn Ready
anyway and say so; ``through_a_restart`` runs the whole story (sidecar first,
engine, Ready, engine stopped and started again, Ready again) and
``assert_gated`` checks what both engines must show of it. Shared by the
vLLM and TGI warm-up tests.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Lifecycle:
    """What the sidecar said through one engine start, stop and restart."""

    before_engine: Probe  # the sidecar up, the engine not yet
    first: list[Probe]  # until the first 200
    served: int  # what the engine itself counted as served when /ready first said 200
    gone: Probe  # after the engine stopped
    second: list[Probe]  # until the next 200
    metrics: str  # the sidecar's /metrics at the end
    hurried: tuple[Probe, str]  # a second sidecar with too short a budget: its /ready and its log
    log: str  # the sidecar's log

    @property
    def summary(self) -> dict[str, Any]:
        return self.first[-1].body["last_warmup"]


def through_a_restart(server: Any, pod: LocalPod, tmp_path: Path, served: Callable[[Any], int]) -> Lifecycle:
    """Sidecar first, then the engine (``server``: launch, stop, start), as in the pod, through one restart."""
    ready_url = f"http://127.0.0.1:{pod.warmup_args[pod.warmup_args.index('--port') + 1]}/ready"
    sidecar = start_warmup(pod, tmp_path / "warmup.log")
    try:
        before_engine = poll_until(ready_url, lambda p: p.status != 0)[-1]
        server.launch()
        first = poll_until(ready_url, lambda p: p.status == 200)
        served_first = served(server)
        server.stop()
        gone = poll_until(ready_url, lambda p: p.status == 503)[-1]
        server.start()
        second = poll_until(ready_url, lambda p: p.status == 200)
        metrics = sidecar_metrics(int(pod.warmup_args[pod.warmup_args.index("--port") + 1]))
        hurried = hurried_sidecar(pod, tmp_path)
    finally:
        stop_process(sidecar)
        server.stop()
    return Lifecycle(before_engine, first, served_first, gone, second, metrics, hurried,
                     (tmp_path / "warmup.log").read_text())


def assert_gated(seen: Lifecycle, requests: int) -> None:
    """Not Ready a single time before the warm-up ended, all of it served by then, and the same after a restart."""
    assert seen.before_engine == Probe(503, "waiting for the engine", seen.before_engine.body)
    assert {p.status for p in seen.first[:-1]} == {503}
    assert {p.phase for p in seen.first[:-1]} <= {"waiting for the engine", "warming"}
    assert seen.summary["outcome"] == "complete" and seen.summary["failed"] == 0, seen.log
    assert seen.summary["requests"] == requests and seen.served == requests, seen.log
    assert json.dumps(seen.summary) in seen.log  # the JSON summary line
    assert seen.gone.phase == "waiting for the engine"
    assert {p.status for p in seen.second[:-1]} == {503}
    assert seen.second[-1].body["last_warmup"]["requests"] == requests
    assert 'modelfleet_warmup_runs_total{outcome="complete"} 2.0' in seen.metrics
    assert "modelfleet_warmup_engine_restarts_total 1.0" in seen.metrics
    hurried_ready, hurried_log = seen.hurried
    assert hurried_ready.status == 200
    assert hurried_ready.body["last_warmup"]["outcome"] == "timed_out"
    assert hurried_ready.body["last_warmup"]["requests"] < requests
    assert "the warm-up is not done after 0.05 s: the replica turns Ready unwarmed" in hurried_log
