"""Scrape the engines' ``/metrics``: one ``Observation`` per ready replica.

A scrape that fails, times out, answers with an error status, or returns text
that is not Prometheus exposition (or lacks the queue gauge) is an explicit
*missing* observation with the reason, never a zero: an engine that cannot
answer is not an idle engine, and the policy must not scale down on it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from modelfleet.api.spec import EngineKind
from modelfleet.engines.metrics import EngineMetrics, metrics_for

from .observations import EngineLoad, Observation

DEFAULT_TIMEOUT_S = 2.0
# A vLLM exposition is ~60 KB; anything far bigger is not an engine's /metrics.
MAX_BODY_BYTES = 4 * 1024 * 1024


class MetricsError(ValueError):
    """The text is not usable engine metrics (why is in the message)."""


@dataclass(frozen=True)
class ScrapeTarget:
    """A ready replica: its name (the pod's), the base URL of its engine and of its warm-up sidecar."""

    name: str
    url: str
    warmup_url: str | None = None


def parse_metrics(text: str, names: EngineMetrics) -> EngineLoad:
    """The engine load in a Prometheus text exposition; ``MetricsError`` if it is not there."""
    families = parse_families(text)
    capacity = kv_capacity_reading(text, names)
    waiting = total(families, names.waiting)
    running = total(families, names.running)
    if waiting is None:
        raise MetricsError(f"no {' or '.join(names.waiting)} series in the metrics")
    if running is None:
        raise MetricsError(f"no {' or '.join(names.running)} series in the metrics")
    return EngineLoad(
        waiting=waiting,
        running=running,
        completed=total(families, names.completed),
        kv_cache_usage=mean(families, names.kv_cache_usage),
        kv_capacity_tokens=None if capacity is None else capacity[0],
        kv_capacity_source=None if capacity is None else capacity[1],
    )


def kv_capacity_tokens(text: str, names: EngineMetrics) -> int | None:
    """The KV cache's token slots the engine reports; None when it reports none (yet)."""
    reading = kv_capacity_reading(text, names)
    return None if reading is None else reading[0]


def kv_capacity_reading(text: str, names: EngineMetrics) -> tuple[int, str] | None:
    """The KV cache's token slots the engine reports and the series they came from; None when it reports none.

    vLLM: ``num_gpu_blocks`` × ``block_size`` labels of its cache-config info
    gauge; TGI: its max-batch-total-tokens gauge (which TGI 3.3.7 never
    exports: ``engines.tgi``). Summed over series: a server runs one engine,
    with its own cache, per data-parallel rank.
    """
    total_tokens = 0
    sources: list[str] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == names.kv_blocks_info and sample.name == names.kv_blocks_info:
                blocks, size = sample.labels.get("num_gpu_blocks"), sample.labels.get("block_size")
                if blocks is None or size is None or not blocks.isdigit() or not size.isdigit():
                    continue  # "None" before the engine has sized its cache
                total_tokens += int(blocks) * int(size)
                sources.append(f"{family.name} num_gpu_blocks × block_size")
            elif family.name in names.kv_tokens and sample.name == family.name and math.isfinite(sample.value):
                total_tokens += int(sample.value)
                sources.append(family.name)
    if not sources:
        return None
    return total_tokens, f"GET {names.metrics_path}: {', '.join(dict.fromkeys(sources))}"


def parse_families(text: str) -> dict[str, list[float]]:
    """Sample values by family name (counters keep their ``_total`` samples, not ``_created``)."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:  # the parser's ways of saying "not an exposition"
        raise MetricsError(f"unparsable metrics: {exc}") from None
    values: dict[str, list[float]] = {}
    for family in families:
        wanted = {family.name, f"{family.name}_total"}
        samples = [s.value for s in family.samples if s.name in wanted]
        if any(not math.isfinite(v) for v in samples):
            raise MetricsError(f"non-finite value in {family.name}")
        values.setdefault(family.name, []).extend(samples)  # a family may come in several blocks
    return values


def first_present(families: dict[str, list[float]], names: Iterable[str]) -> list[float] | None:
    """The samples of the first name that has any (engines renamed some series over releases)."""
    for name in names:
        if families.get(name):
            return families[name]
    return None


def total(families: dict[str, list[float]], names: Iterable[str]) -> float | None:
    """Sum over label sets: one series per data-parallel engine or finish reason."""
    samples = first_present(families, names)
    return None if samples is None else float(sum(samples))


def mean(families: dict[str, list[float]], names: Iterable[str]) -> float | None:
    samples = first_present(families, names)
    return None if samples is None else float(sum(samples) / len(samples))


async def scrape_replica(
    session: aiohttp.ClientSession, target: ScrapeTarget, names: EngineMetrics, timeout_s: float
) -> Observation:
    """Scrape one replica; every failure becomes a missing observation with its reason."""
    url = target.url.rstrip("/") + names.metrics_path
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status != 200:
                return Observation(target.name, error=f"GET {url}: HTTP {response.status}")
            body = await read_limited(response.content)
    except TimeoutError:
        return Observation(target.name, error=f"GET {url}: no answer within {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return Observation(target.name, error=f"GET {url}: {exc.__class__.__name__}: {exc}")
    if len(body) > MAX_BODY_BYTES:
        return Observation(target.name, error=f"GET {url}: body larger than {MAX_BODY_BYTES} bytes")
    try:
        return Observation(target.name, load=parse_metrics(body.decode("utf-8", errors="replace"), names))
    except MetricsError as exc:
        return Observation(target.name, error=f"GET {url}: {exc}")


async def read_limited(stream: aiohttp.StreamReader) -> bytes:
    """The body, or its first MAX_BODY_BYTES + 1 bytes if it is longer (then it is refused)."""
    body = bytearray()
    async for chunk in stream.iter_chunked(64 * 1024):
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            break
    return bytes(body)


async def scrape_fleet(
    kind: EngineKind,
    targets: Sequence[ScrapeTarget],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    session: aiohttp.ClientSession | None = None,
) -> tuple[Observation, ...]:
    """Scrape all replicas at once (each bounded by ``timeout_s``), in the order of ``targets``."""
    names = metrics_for(kind)
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await scrape_all(own_session, targets, names, timeout_s)
    return await scrape_all(session, targets, names, timeout_s)


async def scrape_all(
    session: aiohttp.ClientSession, targets: Sequence[ScrapeTarget], names: EngineMetrics, timeout_s: float
) -> tuple[Observation, ...]:
    return tuple(await asyncio.gather(*(scrape_replica(session, t, names, timeout_s) for t in targets)))
