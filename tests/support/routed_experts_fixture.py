"""Builds ``tests/unit/data/vllm_routed_experts.json``: completions as vLLM 0.32 returns them with routed experts.

A vLLM server started with ``--enable-return-routed-experts`` adds to each
completion choice ``routed_experts``: base64 of a ``.npy`` array shaped
``(tokens - 1, layers, experts_per_token)``. vLLM captures routing on its GPU
model runner only, so the CPU build cannot record one; this script builds
the responses from vLLM's own classes instead (``CompletionResponse`` and
``numpy2base64``, what ``completion/serving.py`` uses), for the tiny Mixtral's
shape: 2 layers, 8 experts, 2 per token. Regenerate with the vLLM venv:

    $(bash e2e/engine/venv.sh | tail -n 1)/bin/python tests/support/routed_experts_fixture.py
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from vllm.entrypoints.openai.completion.protocol import CompletionResponse, CompletionResponseChoice
from vllm.entrypoints.serve.engine.protocol import UsageInfo
from vllm.utils.serial_utils import numpy2base64

OUT = Path(__file__).resolve().parents[1] / "unit" / "data" / "vllm_routed_experts.json"
MODEL = "acme/tiny-mixtral"

# Per response: per token, per layer, the two experts it went to. Together the first two reach all
# 8 experts of both layers; the first alone does not; the third reaches nothing new.
ROUTING = [
    ("uint8", [[[0, 1], [0, 1]], [[2, 3], [2, 3]], [[4, 5], [0, 2]], [[1, 5], [1, 3]], [[0, 4], [2, 1]]]),
    ("uint16", [[[6, 7], [4, 5]], [[7, 0], [6, 7]], [[6, 1], [5, 4]], [[2, 7], [7, 6]]]),
    ("int32", [[[0, 7], [4, 0]], [[3, 6], [1, 2]], [[5, 2], [3, 7]]]),
]


def response(dtype: str, routing: list) -> dict:
    array = np.array(routing, dtype=dtype)
    tokens = array.shape[0] + 1
    choice = CompletionResponseChoice(index=0, text=" warm", finish_reason="length",
                                      routed_experts=numpy2base64(array))
    usage = UsageInfo(prompt_tokens=tokens - 1, completion_tokens=1, total_tokens=tokens)
    return CompletionResponse(model=MODEL, choices=[choice], usage=usage).model_dump(mode="json")


if __name__ == "__main__":
    OUT.write_text(json.dumps([response(dtype, routing) for dtype, routing in ROUTING], indent=1) + "\n")
    print(OUT)
