"""Per-engine facts (vLLM, TGI): arguments, ports, probes, images, metric names."""

from __future__ import annotations

from modelfleet.api.spec import EngineKind

from .base import PORT, Engine, served_model_name
from .tgi import TGI
from .vllm import VLLM

ENGINES: dict[EngineKind, Engine] = {"vllm": VLLM(), "tgi": TGI()}


def engine_for(kind: EngineKind) -> Engine:
    return ENGINES[kind]


__all__ = ["ENGINES", "PORT", "Engine", "TGI", "VLLM", "engine_for", "served_model_name"]
