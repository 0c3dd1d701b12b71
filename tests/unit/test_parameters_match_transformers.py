"""Our parameter formula against transformers' own models, built on the meta device in the engine venv.

torch and transformers are too big for the project's venv; they live in the
vLLM CPU venv (``e2e/engine/venv.sh``). The test runs a script there and
compares its counts with ``count_parameters``. In CI a missing venv fails the
test; locally it skips and says how to build it.
"""
from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from modelfleet.catalog import parse_config
from modelfleet.sizing import count_parameters
from support.vllm_server import require_vllm_python

pytestmark = pytest.mark.engine

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "count_parameters.py"
BUNDLED = resources.files("modelfleet.catalog") / "data"
TINY = {"hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 320, "max_position_embeddings": 512}

CONFIGS = {
    **{
        name: json.loads((BUNDLED / f"mistralai--{name}.json").read_text())
        for name in ("Mistral-7B-v0.1", "Mistral-7B-Instruct-v0.3", "Mixtral-8x7B-v0.1", "Mixtral-8x22B-Instruct-v0.1")
    },
    "tiny-mistral": {"model_type": "mistral", **TINY},
    "tiny-mixtral": {"model_type": "mixtral", **TINY, "num_local_experts": 4, "num_experts_per_tok": 1},
    "tiny-mixtral-mqa": {"model_type": "mixtral", **TINY, "num_key_value_heads": 1, "num_local_experts": 8,
                         "num_experts_per_tok": 2},
    "tiny-llama": {"model_type": "llama", **TINY},
    "tiny-llama-tied-biased": {"model_type": "llama", **TINY, "tie_word_embeddings": True, "attention_bias": True,
                               "mlp_bias": True},
    "tiny-llama-head-dim": {"model_type": "llama", **TINY, "head_dim": 32},
    "llama-3.2-1b-shape": {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
                           "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                           "head_dim": 64, "vocab_size": 128256, "max_position_embeddings": 131072,
                           "tie_word_embeddings": True},
}


@pytest.fixture(scope="module")
def transformers_counts() -> dict[str, dict[str, int]]:
    result = subprocess.run(
        [str(require_vllm_python()), str(SCRIPT)],
        input=json.dumps(CONFIGS), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", CONFIGS)
def test_total_and_active_parameters_match_transformers(name, transformers_counts):
    model = parse_config(name, CONFIGS[name], "bundled")
    ours = count_parameters(model)
    theirs = transformers_counts[name]
    assert ours.total == theirs["total"]
    idle_experts = theirs["experts"] * (model.num_experts - model.experts_per_token) // max(model.num_experts, 1)
    assert ours.active == theirs["total"] - idle_experts
