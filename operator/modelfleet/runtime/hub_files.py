"""Which files of a Hugging Face repo the engine loads: pure rules over the repo's file list.

The engine's ``--include`` patterns (``engines.profile.HF_FILES``) say which
kinds of file it reads; within them the weights come in one format and one
layout only, decided here the way vLLM decides what to load:

- safetensors when the repo has any, else PyTorch ``.bin`` (vLLM tries
  ``*.safetensors`` first and uses ``*.bin`` only when there is none);
- when the format's index (``model.safetensors.index.json``) exists, exactly
  the shards its ``weight_map`` names: Mistral repos ship the same weights
  twice, sharded (``model-0000x-of-0000y.safetensors``) and consolidated
  (``consolidated.safetensors``, Mistral's own format), and loading both
  would break the engine and double the download;
- without an index, the Hugging Face-named files (``model*.safetensors``)
  over ``consolidated*`` ones, for the same reason;
- top-level files only: the engine globs weights in the snapshot's root, so
  copies in sub-folders (``original/``) are never read;
- training leftovers (``optimizer.bin``, ``training_args.bin``, ...) are not
  weights, as vLLM's ``filter_files_not_needed_for_inference`` says.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub.utils import filter_repo_objects

from .errors import NothingToLoad

SAFETENSORS = ".safetensors"
BIN = ".bin"
WEIGHT_SUFFIXES = (SAFETENSORS, BIN, ".pt", ".pth")
INDEX = {SAFETENSORS: "model.safetensors.index.json", BIN: "pytorch_model.bin.index.json"}
NOT_WEIGHTS = frozenset({"training_args.bin", "optimizer.bin", "optimizer.pt", "scheduler.pt", "scaler.pt"})
HF_WEIGHTS_PREFIX = "model"
CONSOLIDATED_PREFIX = "consolidated"


@dataclass(frozen=True)
class RepoFile:
    """A file of the repo at the resolved commit, with the size the Hub lists for it."""

    path: str
    size: int


def matching(paths: Iterable[str], include: Iterable[str]) -> list[str]:
    """Paths that match any pattern, with the Hub client's own matching rules."""
    return sorted(filter_repo_objects(list(paths), allow_patterns=list(include)))


def exact_patterns(paths: Iterable[str]) -> list[str]:
    """``allow_patterns`` that match exactly these paths and nothing else."""
    return [glob.escape(path) for path in paths]


def is_weight(path: str) -> bool:
    return path.endswith(WEIGHT_SUFFIXES) and Path(path).name not in NOT_WEIGHTS


def weights_format(paths: Iterable[str]) -> str | None:
    """The weights format the engine loads from these files: safetensors first, else .bin."""
    weights = [p for p in paths if is_weight(p) and "/" not in p]
    for suffix in (SAFETENSORS, BIN):
        if any(p.endswith(suffix) for p in weights):
            return suffix
    return None


def index_to_read(matched: Collection[str]) -> str | None:
    """The index file whose weight map decides the shards, when the repo has one."""
    fmt = weights_format(matched)
    if fmt is None or INDEX[fmt] not in matched:
        return None
    return INDEX[fmt]


def shard_names(index_text: str) -> frozenset[str]:
    """The files an index's ``weight_map`` points at."""
    return frozenset(json.loads(index_text).get("weight_map", {}).values())


def select_files(include: Iterable[str], matched: Collection[str], shards: Collection[str] | None) -> list[str]:
    """The matched files the engine loads: everything but the weights it would not read.

    ``shards`` is the weight map of ``index_to_read(matched)``, None when there is no index.
    """
    fmt = weights_format(matched)
    if fmt is None:
        raise NothingToLoad(
            f"no weights among the files the engine loads (patterns {', '.join(include)} "
            f"matched {', '.join(sorted(matched)) or 'nothing'}); the engine needs top-level "
            "*.safetensors or *.bin weights"
        )
    weights = [p for p in matched if is_weight(p) and "/" not in p and p.endswith(fmt)]
    if shards is not None:
        weights = _indexed(weights, shards)
    elif fmt == SAFETENSORS and any(p.startswith(HF_WEIGHTS_PREFIX) for p in weights):
        weights = [p for p in weights if not p.startswith(CONSOLIDATED_PREFIX)]
    other_index = {name for suffix, name in INDEX.items() if suffix != fmt}
    others = [p for p in matched if not p.endswith(WEIGHT_SUFFIXES) and p not in other_index]
    return sorted(others + weights)


def _indexed(weights: list[str], shards: Collection[str]) -> list[str]:
    missing = sorted(set(shards) - set(weights))
    if missing:
        raise NothingToLoad(
            "the weight index names shards the engine's patterns do not select or the repo does not have: "
            + ", ".join(missing)
        )
    return [p for p in weights if p in shards]
