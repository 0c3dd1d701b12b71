"""The warm-up sidecar against a real TGI: 503 until TGI is warm, 200 after, 503 again when it restarts.

As in the pod: the sidecar starts first with its rendered arguments, then
the launcher with the engine container's (``support.engine_pod``), on the
pre-pulled, commit-pinned, read-only cache (``tgi_cache``). The sidecar
speaks TGI's dialect (``engines.tgi.PROFILE.warmup``: no token-id prompts, but
``/tokenize`` gives each token's characters, so its long prompt is cut after
exactly its tokens); TGI's own ``tgi_request_success`` counts what it sent.
"""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from modelfleet.runtime.warmup_prompts import PROMPTS
from modelfleet.runtime.warmup_set import LONG_MAX_TOKENS
from support import tgi_server
from support.engine_pod import TINY_REPO, start_warmup, stop_process
from support.warmup_probe import Probe, hurried_sidecar, poll_until, sidecar_metrics

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1500)]

# Waves at 1, 2 and 4 at once (maxConcurrency 4), each at least one request per speciality, and the long prompt.
WARMUP_REQUESTS = 3 * len(PROMPTS) + 1


def requests_served(server: tgi_server.TgiServer) -> int:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(sum(float(v) for v in re.findall(r"^tgi_request_success(?:\{[^}]*\})? (\S+)$", text, re.M)))


def test_ready_only_after_the_warmup_and_again_after_an_engine_restart(tgi_prefix, tgi_cache, tmp_path):
    pod = tgi_cache.pod(TINY_REPO)
    warmup_port = int(pod.warmup_args[pod.warmup_args.index("--port") + 1])
    max_model_len = int(pod.warmup_args[pod.warmup_args.index("--max-model-len") + 1])
    ready_url = f"http://127.0.0.1:{warmup_port}/ready"
    server = tgi_server.TgiServer(tgi_prefix, tmp_path / "tgi.log", args=pod.engine_args, env=pod.engine_env)
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
    assert summary["outcome"] == "complete", log + server.log_tail()
    # TGI's /tokenize gives each token's characters: the long prompt is cut after exactly its tokens, and
    # TGI serves it (router/src/validation.rs would refuse one token more with a 422). Nothing fails.
    assert summary["failed"] == 0, log
    assert summary["long_prompt_tokens"] == max_model_len - LONG_MAX_TOKENS, log
    assert "failed" not in log.replace('"failed": 0', ""), log
    assert summary["requests"] == WARMUP_REQUESTS
    assert sorted(summary["by_concurrency"], key=int) == ["1", "2", "4"]
    assert served == WARMUP_REQUESTS  # what TGI itself counted as served, all before /ready said 200
    assert json.dumps(summary) in log  # the JSON summary line

    assert gone.phase == "waiting for the engine"
    assert {p.status for p in second[:-1]} == {503}
    assert second[-1].body["last_warmup"]["requests"] == summary["requests"]
    assert 'modelfleet_warmup_runs_total{outcome="complete"} 2.0' in metrics
    assert "modelfleet_warmup_engine_restarts_total 1.0" in metrics

    hurried_ready, hurried_log = hurried
    assert hurried_ready.status == 200
    assert hurried_ready.body["last_warmup"]["outcome"] == "timed_out"
    assert "the replica turns Ready unwarmed" in hurried_log
