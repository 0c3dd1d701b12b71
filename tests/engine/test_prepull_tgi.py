"""TGI reads the pre-pull's cache offline, revision pinned to a commit, with both of its readers.

The cache (``tgi_cache``) is what the rendered pre-pull wrote from the local
Hub, then read-only, the Hub gone. TGI reads it twice over: its Python server
(huggingface_hub) loads the weights, and its Rust launcher and router (the
``hf-hub`` crate) find config.json, tokenizer_config.json and the chat
template. hf-hub 0.4.2 finds a file only through ``refs/<revision>``
(``src/lib.rs`` ``CacheRepo::get``), so before the pre-pull wrote
``refs/<commit>`` for a pinned commit, the router started without a
tokenizer config and ``/v1/chat/completions`` answered 422 "Template error:
template not found" (``runtime.prepull.write_ref``).
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from support import tgi_server
from support.engine_pod import TINY_MISTRAL_REPO, TINY_REPO

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def chat(base_url: str, model: str) -> tuple[int, dict]:
    return post(f"{base_url}/v1/chat/completions", {
        "model": model, "messages": [{"role": "user", "content": "Le renard brun rapide"}], "max_tokens": 8,
        "temperature": 0.0})


def generate(base_url: str) -> tuple[int, dict]:
    return post(f"{base_url}/generate", {"inputs": "def fibonacci(n):",
                                         "parameters": {"max_new_tokens": 8, "details": True}})


def check_served_from_the_cache(server: tgi_server.TgiServer, repo: str, commit: str, cache_root) -> None:
    status, answer = chat(server.base_url, repo)
    assert status == 200, (answer, server.log_tail())
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["usage"]["completion_tokens"] > 0
    status, generated = generate(server.base_url)
    assert status == 200 and generated["details"]["generated_tokens"] >= 1, (generated, server.log_tail())

    log = server.log_text()
    snapshot = cache_root / "huggingface" / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / commit
    # The router's own reading (router/src/server.rs run: "Tokenizer_config {path:?} - {found:?}"): found, in
    # the pre-pulled snapshot of the pinned commit.
    assert re.search(rf'Tokenizer_config None - Some\("{re.escape(str(snapshot))}/tokenizer_config.json"\)', log), \
        server.log_tail()
    assert f'revision: Some(\n        "{commit}",' in log  # the launcher's Args: the rendered revision


def test_tgi_serves_the_mixtral_offline_from_a_commit_pinned_cache(tgi, tgi_cache):
    check_served_from_the_cache(tgi.server, TINY_REPO, tgi_cache.commits[TINY_REPO], tgi_cache.root)


def test_tgi_serves_the_mistral_offline_from_a_commit_pinned_cache(tgi_prefix, tgi_cache, tmp_path):
    pod = tgi_cache.pod(TINY_MISTRAL_REPO)
    with tgi_server.tgi_servers(tgi_prefix, tmp_path, [pod.engine_args], env=pod.engine_env) as (server,):
        check_served_from_the_cache(server, TINY_MISTRAL_REPO, tgi_cache.commits[TINY_MISTRAL_REPO], tgi_cache.root)


def test_the_cache_holds_a_ref_for_the_pinned_commit(tgi_cache):
    """What the router follows: refs/<commit> naming the commit itself (hf-hub reads no other way)."""
    for repo, commit in tgi_cache.commits.items():
        refs = tgi_cache.root / "huggingface" / "hub" / f"models--{repo.replace('/', '--')}" / "refs"
        assert (refs / commit).read_text() == commit
