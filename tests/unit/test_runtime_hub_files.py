"""The pre-pull fetches exactly the files the engine loads: one weights format, one layout."""

from __future__ import annotations

import json

import pytest

from modelfleet.engines import profile_for
from modelfleet.runtime.errors import NothingToLoad
from modelfleet.runtime.hub_files import exact_patterns, index_to_read, matching, select_files, shard_names

ENGINE = profile_for("vllm").files

# The file list of a Mistral repo on the Hub (Mistral-7B-Instruct-v0.3's shape): sharded safetensors
# with their index, the same weights again as consolidated.safetensors (Mistral's format), old .bin
# copies, and files no engine reads.
MISTRAL = [
    ".gitattributes", "README.md", "config.json", "generation_config.json", "params.json",
    "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
    "model.safetensors.index.json", "consolidated.safetensors",
    "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
    "tokenizer.json", "tokenizer.model", "tokenizer.model.v3", "tokenizer_config.json", "special_tokens_map.json",
    "original/consolidated.safetensors", "training_args.bin",
]
MISTRAL_SHARDS = frozenset(f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3))
MISTRAL_LOADED = sorted([
    "config.json", "generation_config.json", "params.json", "model.safetensors.index.json", *MISTRAL_SHARDS,
    "tokenizer.json", "tokenizer.model", "tokenizer.model.v3", "tokenizer_config.json", "special_tokens_map.json",
])


def choose(files: list[str], include=ENGINE, shards=None) -> list[str]:
    matched = matching(files, include)
    if shards is None and index_to_read(matched) is not None:
        shards = MISTRAL_SHARDS
    return select_files(include, matched, shards)


def test_the_engine_patterns_take_the_sharded_safetensors_once():
    assert choose(MISTRAL) == MISTRAL_LOADED


def test_wider_patterns_still_take_one_copy_of_the_weights():
    """Every file matched, yet the index decides the weights: no consolidated copy, no .bin, no sub-folder."""
    chosen = choose(MISTRAL, include=("*",))
    assert [p for p in chosen if p.endswith((".safetensors", ".bin"))] == sorted(MISTRAL_SHARDS)
    assert "pytorch_model.bin.index.json" not in chosen
    assert "training_args.bin" not in chosen


def test_without_an_index_the_hugging_face_named_file_wins_over_the_consolidated_one():
    files = ["config.json", "model.safetensors", "consolidated.safetensors", "tokenizer.json"]
    assert choose(files, include=("*",)) == ["config.json", "model.safetensors", "tokenizer.json"]


def test_consolidated_weights_alone_are_taken():
    files = ["config.json", "consolidated.safetensors"]
    assert choose(files, include=("*",)) == files


def test_bin_weights_are_taken_only_when_there_is_no_safetensors():
    files = ["config.json", "pytorch_model.bin", "optimizer.bin", "tokenizer.json"]
    assert choose(files, include=("*.json", "*.bin")) == ["config.json", "pytorch_model.bin", "tokenizer.json"]
    both = files + ["model.safetensors"]
    chosen = choose(both, include=("*.json", "*.bin", "*.safetensors"))
    assert chosen == ["config.json", "model.safetensors", "tokenizer.json"]


def test_a_repo_without_weights_the_engine_loads_is_an_error():
    message = r"no weights among the files the engine loads \(patterns .*model\*\.safetensors"
    with pytest.raises(NothingToLoad, match=message):
        choose(["config.json", "pytorch_model.bin"])


def test_an_index_naming_missing_shards_is_an_error():
    files = ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"]
    shards = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    with pytest.raises(NothingToLoad, match="model-00002-of-00002.safetensors"):
        choose(files, shards=shards)


def test_shard_names_come_from_the_weight_map():
    weight_map = {"a.weight": "s1.safetensors", "b.weight": "s1.safetensors", "c.weight": "s2.safetensors"}
    index = json.dumps({"metadata": {"total_size": 3}, "weight_map": weight_map})
    assert shard_names(index) == {"s1.safetensors", "s2.safetensors"}


def test_exact_patterns_match_only_their_file():
    odd = ["weights[1].safetensors", "a*b.json", "plain.json", "weights1.safetensors"]
    patterns = exact_patterns(["weights[1].safetensors", "a*b.json"])
    assert matching(odd, patterns) == ["a*b.json", "weights[1].safetensors"]
