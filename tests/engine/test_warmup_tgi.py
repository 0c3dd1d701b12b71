"""The warm-up sidecar against a real TGI: 503 until TGI is warm, 200 after, 503 again when it restarts.

As in the pod: the sidecar starts first with its rendered arguments, then
the launcher with the engine container's (``support.engine_pod``), on the
pre-pulled, commit-pinned, read-only cache (``tgi_cache``). The sidecar
speaks TGI's dialect (``engines.tgi.PROFILE.warmup``: no token-id prompts, but
``/tokenize`` gives where each token ends, in UTF-8 bytes, so its long prompt is cut after
exactly its tokens); TGI's own ``tgi_request_success`` counts what it sent.
"""
from __future__ import annotations

import re
import urllib.request

import pytest

from modelfleet.runtime.warmup_prompts import PROMPTS
from modelfleet.runtime.warmup_set import LONG_MAX_TOKENS
from support import tgi_server
from support.engine_pod import TINY_REPO
from support.warmup_probe import assert_gated, through_a_restart

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1500)]

# Waves at 1, 2 and 4 at once (maxConcurrency 4), each at least one request per speciality, and the long prompt.
WARMUP_REQUESTS = 3 * len(PROMPTS) + 1


def requests_served(server: tgi_server.TgiServer) -> int:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return int(sum(float(v) for v in re.findall(r"^tgi_request_success(?:\{[^}]*\})? (\S+)$", text, re.M)))


def test_ready_only_after_the_warmup_and_again_after_an_engine_restart(tgi_prefix, tgi_cache, tmp_path):
    pod = tgi_cache.pod(TINY_REPO)
    max_model_len = int(pod.warmup_args[pod.warmup_args.index("--max-model-len") + 1])
    server = tgi_server.TgiServer(tgi_prefix, tmp_path / "tgi.log", args=pod.engine_args, env=pod.engine_env)
    seen = through_a_restart(server, pod, tmp_path, requests_served)

    assert_gated(seen, WARMUP_REQUESTS)
    assert sorted(seen.summary["by_concurrency"], key=int) == ["1", "2", "4"]
    # TGI's /tokenize gives where each token ends (UTF-8 bytes): the long prompt is cut after exactly its tokens, and
    # TGI serves it (router/src/validation.rs would refuse one token more with a 422). Nothing fails.
    assert seen.summary["long_prompt_tokens"] == max_model_len - LONG_MAX_TOKENS, seen.log
    assert "failed" not in seen.log.replace('"failed": 0', ""), seen.log
