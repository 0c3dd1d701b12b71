"""Predicted vs reported KV capacity of a real vLLM CPU server, for the engine tier and the benchmark.

The prediction is modelfleet's own memory model (``modelfleet.sizing``) fed
the server's facts: its model's config.json, the KV space it is given
(``VLLM_CPU_KVCACHE_SPACE``, GiB) and the vLLM CPU platform's rules
(``engines.vllm.CPU_MEMORY``: blocks of 128, one batch in flight). The
report is what the operator reads in production: ``vllm:cache_config_info``
from ``/metrics``, parsed by ``modelfleet.autoscale.scrape``.
"""
from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from modelfleet.api.quantity import GIB
from modelfleet.autoscale.scrape import kv_capacity_tokens
from modelfleet.catalog import ModelConfig, parse_config
from modelfleet.engines.metrics import metrics_for
from modelfleet.engines.vllm import CPU_MEMORY as VLLM_CPU
from modelfleet.sizing import kv_bytes_per_token, kv_capacity_tokens as predicted_tokens


@dataclass(frozen=True)
class ServerShape:
    """What shapes one CPU server's KV cache."""

    kv_space_gib: int
    max_model_len: int
    max_num_batched_tokens: int
    kv_cache_dtype: str = "auto"

    def env(self) -> dict[str, str]:
        return {"VLLM_CPU_KVCACHE_SPACE": str(self.kv_space_gib)}

    def args(self) -> tuple[str, ...]:
        return ("--dtype", "bfloat16", "--max-model-len", str(self.max_model_len), "--max-num-seqs", "4",
                "--max-num-batched-tokens", str(self.max_num_batched_tokens), "--kv-cache-dtype", self.kv_cache_dtype)


@dataclass(frozen=True)
class Prediction:
    tokens: int
    tokens_per_sequence: int
    sequences: float  # vLLM reports max concurrency as a float (blocks / blocks per request)


@dataclass(frozen=True)
class Report:
    tokens: int
    block_size: int
    num_gpu_blocks: int
    max_concurrency: float


def model_config(model_dir: Path) -> ModelConfig:
    return parse_config(model_dir.name, json.loads((model_dir / "config.json").read_text()), "hub")


def predict(model: ModelConfig, shape: ServerShape) -> Prediction:
    rules = replace(VLLM_CPU, prefill_tokens=shape.max_num_batched_tokens)
    tokens = predicted_tokens(shape.kv_space_gib * GIB, kv_bytes_per_token(model, shape.kv_cache_dtype),
                              rules.block_size)
    per_sequence = rules.kv_slots(shape.max_model_len, model.sliding_window).tokens
    return Prediction(tokens, per_sequence, tokens / per_sequence)


def report(metrics_text: str) -> Report:
    """What the operator reads (``kv_capacity_tokens``), and the labels beside it, for the table."""
    tokens = kv_capacity_tokens(metrics_text, metrics_for("vllm"))
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "vllm:cache_config_info":
            labels = family.samples[0].labels
            return Report(tokens=tokens, block_size=int(labels["block_size"]),
                          num_gpu_blocks=int(labels["num_gpu_blocks"]),
                          max_concurrency=float(labels["kv_cache_max_concurrency"]))
    raise ValueError("no vllm:cache_config_info in the metrics")


def scrape_text(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        return response.read().decode()


def windowed_copy(model_dir: Path, window: int, dest: Path) -> Path:
    """The same checkpoint with ``sliding_window`` set in its config.json (files linked, not copied)."""
    target = dest / f"{model_dir.name}-window-{window}"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for item in model_dir.iterdir():
        if item.name != "config.json":
            (target / item.name).symlink_to(item.resolve())
    config = json.loads((model_dir / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "sliding_window": window}, indent=2))
    return target
