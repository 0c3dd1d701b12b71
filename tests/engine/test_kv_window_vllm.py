"""vLLM's windowed KV per sequence, on a real vLLM CPU server.

The tiny Mixtral with ``sliding_window`` 128 in its config.json (same
weights), served with 64 tokens per step: vLLM keeps ``window - 1 + 64``
tokens of a 512-token sequence, in blocks of 128 plus one
(``SlidingWindowSpec.max_admission_blocks_per_request``), so it reports more
full-length sequences than the same KV space holds with full attention.
modelfleet's rule (``engines.vllm.CPU_MEMORY.kv_slots``: the CPU platform's
block and batches in flight) predicts the number vLLM reports.
"""
from __future__ import annotations

import pytest

from support import kv_capacity, vllm_server

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

WINDOW = 128
SHAPE = kv_capacity.ServerShape(kv_space_gib=1, max_model_len=512, max_num_batched_tokens=64)


@pytest.fixture(scope="module")
def windowed(vllm_python, tiny_model_dir, tmp_path_factory):
    model_dir = kv_capacity.windowed_copy(tiny_model_dir, WINDOW, tmp_path_factory.mktemp("windowed"))
    with vllm_server.vllm_servers(vllm_python, model_dir, tmp_path_factory.mktemp("kv-window-logs"), count=1,
                                  args=SHAPE.args(), env=SHAPE.env()) as (only,):
        yield model_dir, kv_capacity.report(kv_capacity.scrape_text(only.base_url))


def test_vllm_reports_the_sequences_the_window_rule_predicts(windowed):
    model_dir, reported = windowed
    predicted = kv_capacity.predict(kv_capacity.model_config(model_dir), SHAPE)
    assert predicted.tokens_per_sequence == 3 * 128  # cdiv(127 + 64, 128) + 1 blocks, not 512 / 128 = 4
    assert predicted.tokens == reported.tokens
    assert predicted.sequences == pytest.approx(reported.max_concurrency, rel=1e-6)
    assert reported.max_concurrency > reported.tokens / SHAPE.max_model_len  # the window saves KV
