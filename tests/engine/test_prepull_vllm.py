"""Pre-pull from the local Hub into a cache, then a real vLLM serves from that cache with the Hub gone.

The pre-pull runs with the arguments the renderer gives the init container,
vLLM with the engine container's arguments and environment
(``HF_HUB_OFFLINE=1``, ``HF_HOME``, ``--revision main``),
mapped to this machine by ``support.engine_pod``. The Hub is stopped before
vLLM starts: whatever vLLM needs must already be in the cache.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from support import vllm_server
from support.engine_pod import TINY_REPO, on_this_machine, render_pod, run_prepull, set_writable, tiny_model_repos
from support.hub_server import HubServer, file_downloads

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

LOADED = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


def completion(server: vllm_server.VllmServer, prompt: str) -> dict:
    body = json.dumps({"model": TINY_REPO, "prompt": prompt, "max_tokens": 8, "temperature": 0.0}).encode()
    request = urllib.request.Request(f"{server.base_url}/v1/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")}


def test_vllm_serves_offline_from_the_prepulled_cache(vllm_python, tiny_model_dir, tmp_path):
    pod = on_this_machine(render_pod(max_model_len=256, max_concurrency=4), tmp_path / "cache",
                          engine_port=vllm_server.free_port(), warmup_port=vllm_server.free_port())
    with HubServer(tiny_model_repos(tiny_model_dir)) as hub:
        result = run_prepull(pod, hub.url)
        fetched = {s.request.path.rsplit("/", 1)[-1] for s in hub.served if file_downloads()(s.request)}
    assert result.returncode == 0, result.stdout + result.stderr
    assert fetched == LOADED  # not consolidated.safetensors, not pytorch_model.bin

    # As in the pod: the engine gets the cache read-only and writes only to its scratch directory.
    set_writable(pod.cache_root, False)
    before = tree(pod.cache_root)
    server = vllm_server.VllmServer(vllm_python, TINY_REPO, tmp_path / "vllm.log", args=pod.engine_args,
                                    env=pod.engine_env)
    try:
        server.start()
        answer = completion(server, "Le renard brun rapide")
    finally:
        server.stop()
        set_writable(pod.cache_root, True)
    assert tree(pod.cache_root) == before
    assert answer["model"] == TINY_REPO
    assert answer["usage"]["completion_tokens"] == 8
    log = server.log_path.read_text(errors="replace")
    assert "revision='main'" in log or "revision=main" in log, server.log_tail()
