"""What a scrape saw on one replica, and on the routers: plain data shared by the scrapers and the (pure) policy."""

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


@dataclass(frozen=True)
class RouterReading:
    """What the routers said: ``held`` summed over them (None: one could not be read, ``error`` says why),
    and the newest wake any of them saw (when, RFC 3339, and the first request's wait), if any."""

    held: float | None
    wake_time: str | None = None
    wake_wait_seconds: float | None = None
    error: str | None = None

