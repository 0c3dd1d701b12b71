"""The warm-up's logic without an engine: batch shapes, expert coverage, the long prompt, /ready and /metrics.

Against a real vLLM, tests/engine/test_warmup_vllm.py. Expert coverage can
only be checked here: vLLM reports routed experts on GPUs only, so the
responses are recorded ones (tests/unit/data/vllm_routed_experts.json, made
by tests/support/routed_experts_fixture.py from vLLM's own classes), replayed
by ``Replay`` in place of the engine.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelfleet.api.runtime_args import WarmupArgs
from modelfleet.engines import profile_for
from modelfleet.runtime.engine_client import Completion
from modelfleet.runtime.experts import ExpertCoverage, UnreadableArray, decode_routed_experts
from modelfleet.runtime.warmup import READY, WAITING, Sidecar, summarise
from modelfleet.runtime.warmup_prompts import PROMPTS
from modelfleet.runtime.warmup_set import (
    CHARS_PER_TOKEN_GUESS,
    LONG_MAX_TOKENS,
    MAX_COVERAGE_WAVES,
    RequestRecord,
    WarmupReport,
    WarmupRun,
    concurrency_levels,
)

RECORDED = json.loads((Path(__file__).parent / "data" / "vllm_routed_experts.json").read_text())
ROUTED = [response["choices"][0]["routed_experts"] for response in RECORDED]


class Replay:
    """Stands in for the engine: answers completions with recorded ``routed_experts``, in turn."""

    def __init__(self, kind: str = "vllm", routed: list[str] = (), refuse_longer_than: int | None = None) -> None:
        self.dialect = profile_for(kind).warmup
        self.routed = list(routed)
        self.refuse_longer_than = refuse_longer_than
        self.prompts: list[str | list[int]] = []

    async def tokenize(self, text: str) -> list[int] | None:
        return list(range(len(text.split()))) if self.dialect.tokenize_path else None

    async def token_ends(self, text: str) -> list[int] | None:
        """A word is a token here, as ``tokenize`` has it; each ends where its word does, in UTF-8 bytes as TGI
        counts (the warm-up text has accented words, so characters would be the wrong unit)."""
        if not self.dialect.token_offsets_path:
            return None
        return [len(text[:match.end()].encode()) for match in re.finditer(r"\S+", text)]

    async def complete(self, prompt: str | list[int], max_tokens: int) -> Completion:
        self.prompts.append(prompt)
        if self.refuse_longer_than is not None and len(prompt) > self.refuse_longer_than:
            return Completion(400, 0.01, error="This model's maximum context length is exceeded")
        routed = (self.routed[(len(self.prompts) - 1) % len(self.routed)],) if self.routed else ()
        return Completion(200, 0.01, routed)


def run(client: Replay, *, max_model_len: int = 512, max_concurrency: int = 4, num_experts: int | None = 8):
    lines: list[str] = []
    report = asyncio.run(WarmupRun(client, max_model_len, max_concurrency, num_experts, lines.append).run())
    return report, lines


@pytest.mark.parametrize("limit, levels", [(1, [1]), (4, [1, 2, 4]), (6, [1, 2, 4, 6]), (32, [1, 2, 4, 8, 16, 32])])
def test_concurrency_rises_in_powers_of_two_up_to_the_batch_limit(limit, levels):
    assert concurrency_levels(limit) == levels


def test_the_set_sends_every_speciality_at_every_concurrency_and_one_long_prompt():
    report, _ = run(Replay())
    for level in (1, 2, 4):
        at_level = [r for r in report.records if r.concurrency == level and r.speciality != "long-context"]
        specialities = [r.speciality for r in at_level]
        assert sorted(specialities) == sorted(p.speciality for p in PROMPTS)
    assert [r.speciality for r in report.records].count("long-context") == 1
    assert report.long_prompt_tokens == 512 - LONG_MAX_TOKENS


def test_no_two_prompts_share_a_prefix():
    client = Replay()
    run(client)
    texts = [p for p in client.prompts if isinstance(p, str)]
    assert len({t.split(" ", 1)[0] for t in texts}) == len(texts)  # each starts with its own number


def test_the_long_prompt_is_exactly_sized_in_tokens_where_the_engine_tokenizes():
    client = Replay("vllm")
    run(client, max_model_len=300)
    (long_prompt,) = [p for p in client.prompts if isinstance(p, list)]
    assert len(long_prompt) == 300 - LONG_MAX_TOKENS


def test_where_the_engine_reports_token_spans_the_long_prompt_is_cut_after_exactly_that_many_tokens():
    client = Replay("tgi")
    report, _ = run(client, max_model_len=300)
    (long_prompt,) = [p for p in client.prompts if len(p) > 600]
    assert len(long_prompt.split()) == report.long_prompt_tokens == 300 - LONG_MAX_TOKENS
    assert not long_prompt.endswith(" ")  # cut where a token ends


def test_without_a_tokenizer_the_long_prompt_is_estimated_and_shrunk_when_refused():
    client = Replay("tgi", refuse_longer_than=1000)
    client.dialect = replace(client.dialect, token_offsets_path=None)
    report, _ = run(client, max_model_len=400)
    long_prompts = [p for p in client.prompts if len(p) > 600]
    assert len(long_prompts[0]) == (400 - LONG_MAX_TOKENS) * CHARS_PER_TOKEN_GUESS
    assert [len(p) for p in long_prompts] == sorted((len(p) for p in long_prompts), reverse=True)
    assert len(long_prompts[-1]) <= 1000
    long_statuses = [r.status for r in report.records if r.speciality == "long-context"]
    assert long_statuses[0] == 400 and long_statuses[-1] == 200


def test_recorded_routed_experts_decode_as_vllm_encodes_them():
    routed = [decode_routed_experts(encoded) for encoded in ROUTED]
    assert [r.shape for r in routed] == [(5, 2, 2), (4, 2, 2), (3, 2, 2)]  # uint8, uint16, int32 arrays
    assert routed[0].ids[:4] == (0, 1, 0, 1)
    with pytest.raises(UnreadableArray):
        decode_routed_experts("bm90IGFuIGFycmF5")


def test_coverage_counts_experts_per_layer():
    coverage = ExpertCoverage()
    assert coverage.add(decode_routed_experts(ROUTED[0])) == 6 + 4
    assert coverage.missing(8) == {0: [6, 7], 1: [4, 5, 6, 7]}
    assert coverage.add(decode_routed_experts(ROUTED[1])) == 2 + 4
    assert coverage.complete(8)
    assert coverage.add(decode_routed_experts(ROUTED[2])) == 0


def test_with_routing_reported_it_warms_until_every_expert_was_hit():
    """Only the first recorded response comes back through the planned set: more waves until all 16 pairs."""
    planned = 3 * len(PROMPTS) + 1
    client = Replay(routed=[ROUTED[0]] * planned + [ROUTED[1]])
    report, _ = run(client)
    assert report.coverage.complete(8)
    assert report.coverage_waves == 1
    assert len(report.records) == planned + len(PROMPTS)


def test_coverage_waves_are_bounded_when_an_expert_is_never_reached():
    report, lines = run(Replay(routed=[ROUTED[0]]))
    assert report.coverage_waves == MAX_COVERAGE_WAVES
    assert lines[-1] == f"experts never reached after {MAX_COVERAGE_WAVES} waves: {{0: [6, 7], 1: [4, 5, 6, 7]}}"


def test_without_the_expert_count_it_stops_when_a_wave_reaches_no_new_expert():
    report, _ = run(Replay(routed=[ROUTED[0]]), num_experts=None)
    assert report.coverage_waves == 1


def test_without_routing_reported_there_are_no_coverage_waves():
    report, _ = run(Replay())
    assert report.coverage_waves == 0 and not report.coverage.hit


def test_the_summary_has_duration_latencies_per_concurrency_and_coverage():
    report = WarmupReport(records=[RequestRecord(1, "code", 0.2, 200), RequestRecord(2, "math", 0.4, 200),
                                   RequestRecord(2, "french", 0.1, 500)])
    report.coverage.add(decode_routed_experts(ROUTED[0]))
    summary = summarise(report, "complete", 1.23456, num_experts=8)
    assert summary == {
        "event": "warmup", "outcome": "complete", "duration_s": 1.235, "requests": 3, "failed": 1,
        "latency_s": {"p50": 0.2, "p90": 0.4, "max": 0.4},
        "by_concurrency": {"1": {"requests": 1, "p50_s": 0.2, "max_s": 0.2},
                           "2": {"requests": 2, "p50_s": 0.1, "max_s": 0.4}},
        "long_prompt_tokens": None,
        "experts": {"layers": 2, "pairs_hit": 10, "pairs": 16, "experts_hit_per_layer": {"0": 6, "1": 4}},
        "coverage_waves": 0,
    }


# The sidecar's command line; its port is never bound here (the test server picks its own).
ARGS = WarmupArgs(engine_url="http://127.0.0.1:1", engine="vllm", served_model_name="m", max_model_len=256,
                  max_concurrency=4, timeout_seconds=60, port=9000)


async def get(sidecar: Sidecar, path: str) -> tuple[int, str]:
    async with TestClient(TestServer(sidecar.app())) as client:
        response = await client.get(path)
        return response.status, await response.text()


def test_ready_is_503_until_warm_then_200_with_the_summary():
    sidecar = Sidecar(ARGS, lambda line: None)
    status, body = asyncio.run(get(sidecar, "/ready"))
    assert (status, json.loads(body)) == (503, {"phase": WAITING, "last_warmup": None})
    sidecar.finish(WarmupReport(records=[RequestRecord(1, "code", 0.5, 200)]), "complete", 2.0)
    sidecar._enter(READY)
    status, body = asyncio.run(get(sidecar, "/ready"))
    assert status == 200 and json.loads(body)["last_warmup"]["duration_s"] == 2.0


def test_metrics_expose_readiness_duration_and_coverage():
    lines: list[str] = []
    sidecar = Sidecar(ARGS.model_copy(update={"num_experts": 8}), lines.append)
    report = WarmupReport(records=[RequestRecord(2, "code", 0.3, 200)])
    report.coverage.add(decode_routed_experts(ROUTED[0]))
    sidecar.metrics.observe(report.records[0])
    sidecar.finish(report, "timed_out", 12.5)
    _, text = asyncio.run(get(sidecar, "/metrics"))
    assert "modelfleet_warmup_ready 0.0" in text
    assert "modelfleet_warmup_duration_seconds 12.5" in text
    assert 'modelfleet_warmup_runs_total{outcome="timed_out"} 1.0' in text
    assert 'modelfleet_warmup_request_duration_seconds_count{concurrency="2"} 1.0' in text
    assert "modelfleet_warmup_expert_coverage_ratio 0.625" in text
    assert json.loads(lines[-1])["outcome"] == "timed_out"
