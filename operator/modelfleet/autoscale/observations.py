"""What a scrape saw on one replica: plain data shared by the scraper and the (pure) policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineLoad:
    """What one engine reported: requests waiting, running, finished so far, KV-cache use."""

    waiting: float
    running: float
    completed: float | None = None
    kv_cache_usage: float | None = None
    kv_capacity_tokens: int | None = None  # the KV cache's token slots, as the engine sized it
    kv_capacity_source: str | None = None  # the series the figure was read from, when there is one


@dataclass(frozen=True)
class Observation:
    """One replica's scrape: ``load`` when it worked, else ``error`` says why it is missing."""

    replica: str
    load: EngineLoad | None = None
    error: str | None = None

    @property
    def missing(self) -> bool:
        return self.load is None
