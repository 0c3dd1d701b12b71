"""The warm-up sidecar against a real vLLM: 503 until the engine is warm, 200 after, 503 again when it restarts.

As in the pod: the pre-pull fills the cache, the sidecar starts first (the
kubelet starts the engine once the native sidecar runs), then vLLM, both
with the rendered arguments (``support.engine_pod``). The test polls
``/ready`` the way the kubelet's readiness probe does, in a bounded loop,
and reads vLLM's own request counter to see what the warm-up sent.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from modelfleet.runtime.warmup_prompts import PROMPTS
from support import vllm_server
from support.engine_pod import on_this_machine, render_pod, run_prepull, start_warmup, stop_process, tiny_model_repos
from support.hub_server import HubServer
from support.warmup_probe import Probe, hurried_sidecar, poll_until, sidecar_metrics

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1200)]

MAX_MODEL_LEN = 256
MAX_CONCURRENCY = 4
# Waves at 1, 2 and 4 at once, each at least one request per speciality, and the long prompt.
WARMUP_REQUESTS = 3 * len(PROMPTS) + 1


def requests_served(server: vllm_server.VllmServer) -> int:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(sum(float(v) for v in re.findall(r"^vllm:request_success_total\{[^}]*\} (\S+)$", text, re.M)))


@pytest.fixture
def pod(tiny_model_dir, tmp_path):
    pod = on_this_machine(render_pod(MAX_MODEL_LEN, MAX_CONCURRENCY), tmp_path / "cache",
                          engine_port=vllm_server.free_port(), warmup_port=vllm_server.free_port())
    with HubServer(tiny_model_repos(tiny_model_dir)) as hub:
        result = run_prepull(pod, hub.url)
    assert result.returncode == 0, result.stdout + result.stderr
    return pod


def test_ready_only_after_the_warmup_and_again_after_an_engine_restart(vllm_python, pod, tmp_path):
    engine_port = int(pod.warmup_args[pod.warmup_args.index("--engine-url") + 1].rsplit(":", 1)[1])
    warmup_port = int(pod.warmup_args[pod.warmup_args.index("--port") + 1])
    ready_url = f"http://127.0.0.1:{warmup_port}/ready"
    server = vllm_server.VllmServer(vllm_python, "acme/tiny-mixtral", tmp_path / "vllm.log", args=pod.engine_args,
                                    env=pod.engine_env, port=engine_port)
    sidecar = start_warmup(pod, tmp_path / "warmup.log")
    try:
        before_engine = poll_until(ready_url, lambda p: p.status != 0)[-1]
        server.launch()
        first = poll_until(ready_url, lambda p: p.status == 200)
        served = requests_served(server)

        server.stop()
        gone = poll_until(ready_url, lambda p: p.status == 503)[-1]
        server.start()
        second = poll_until(ready_url, lambda p: p.status == 200)
        metrics = sidecar_metrics(warmup_port)
        hurried = hurried_sidecar(pod, tmp_path)
    finally:
        stop_process(sidecar)
        server.stop()
    log = (tmp_path / "warmup.log").read_text()

    assert before_engine == Probe(503, "waiting for the engine", before_engine.body)
    assert {p.status for p in first[:-1]} == {503}  # not Ready a single time before the warm-up ended
    assert {p.phase for p in first[:-1]} <= {"waiting for the engine", "warming"}
    summary = first[-1].body["last_warmup"]
    assert summary["outcome"] == "complete" and summary["failed"] == 0, log
    assert summary["requests"] == WARMUP_REQUESTS
    assert sorted(summary["by_concurrency"], key=int) == ["1", "2", "4"]
    assert summary["long_prompt_tokens"] == MAX_MODEL_LEN - 4  # sized with vLLM's tokenizer: exact
    assert served == WARMUP_REQUESTS  # what vLLM itself counted, all before /ready said 200
    assert json.dumps(summary) in log  # the JSON summary line

    assert gone.phase == "waiting for the engine"
    assert {p.status for p in second[:-1]} == {503}
    assert second[-1].body["last_warmup"]["requests"] == WARMUP_REQUESTS
    assert 'modelfleet_warmup_runs_total{outcome="complete"} 2.0' in metrics
    assert "modelfleet_warmup_engine_restarts_total 1.0" in metrics
    assert "modelfleet_warmup_ready 1.0" in metrics
    assert f'modelfleet_warmup_request_duration_seconds_count{{concurrency="4"}} {2 * len(PROMPTS)}.0' in metrics

    (hurried_ready, hurried_log) = hurried
    assert hurried_ready.status == 200
    assert hurried_ready.body["last_warmup"]["outcome"] == "timed_out"
    assert hurried_ready.body["last_warmup"]["requests"] < WARMUP_REQUESTS
    assert "the warm-up is not done after 0.05 s: the replica turns Ready unwarmed" in hurried_log
