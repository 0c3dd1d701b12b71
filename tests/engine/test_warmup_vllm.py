"""The warm-up sidecar against a real vLLM: 503 until the engine is warm, 200 after, 503 again when it restarts.

As in the pod: the pre-pull fills the cache, the sidecar starts first (the
kubelet starts the engine once the native sidecar runs), then vLLM, both
with the rendered arguments (``support.engine_pod``). The test polls
``/ready`` the way the kubelet's readiness probe does, in a bounded loop,
and reads vLLM's own request counter to see what the warm-up sent.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from modelfleet.runtime.warmup_prompts import PROMPTS
from support import vllm_server
from support.engine_pod import on_this_machine, render_pod, run_prepull, tiny_model_repos
from support.hub_server import HubServer
from support.warmup_probe import assert_gated, through_a_restart

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
    server = vllm_server.VllmServer(vllm_python, "acme/tiny-mixtral", tmp_path / "vllm.log", args=pod.engine_args,
                                    env=pod.engine_env, port=engine_port)
    seen = through_a_restart(server, pod, tmp_path, requests_served)

    assert_gated(seen, WARMUP_REQUESTS)
    assert sorted(seen.summary["by_concurrency"], key=int) == ["1", "2", "4"]
    assert seen.summary["long_prompt_tokens"] == MAX_MODEL_LEN - 4  # sized with vLLM's tokenizer: exact
    assert "modelfleet_warmup_ready 1.0" in seen.metrics
    assert f'modelfleet_warmup_request_duration_seconds_count{{concurrency="4"}} {2 * len(PROMPTS)}.0' in seen.metrics
