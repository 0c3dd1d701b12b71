"""results.md from bench.py's runs: the median round of each proxy and concurrency, and held memory."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

NAMES = {
    "direct": "direct (no proxy)",
    "nginx": "nginx (Debian's)",
    "aiohttp": "Python aiohttp relay (asyncio loop)",
    "aiohttp-uvloop": "Python aiohttp relay (uvloop)",
    "router-python": "**modelfleet router (Python, aiohttp + uvloop)**",
    "router-go": "modelfleet router in Go (GOMAXPROCS 2)",
    "router-go-1cpu": "modelfleet router in Go (GOMAXPROCS 1)",
}


def median_round(rounds: list[Any]) -> Any:
    """The round whose CPU per chunk is the median (for direct, which has no proxy: its chunk p50)."""
    key = (lambda r: r.chunk_p50_ms) if rounds[0].cpu_us_per_chunk is None else (lambda r: r.cpu_us_per_chunk)
    ordered = sorted(rounds, key=key)
    return ordered[(len(ordered) - 1) // 2]


def _added(value: float, base: float | None) -> str:
    return f"{value:.2f}" if base is None else f"{value:.2f} ({value - base:+.2f})"


def load_line(meta: dict[str, Any], runs: list[Any]) -> str:
    loads = [r.load_average[0] for r in runs if r.load_average]
    line = f"Load average (1 min) when the measurement started: {meta['load_average_at_start']}"
    if not meta["quiet"]:
        line += " (**it never got under 1.5 within the 15-minute wait: other work shared the machine**)"
    return line + (f"; at the end of each round {min(loads):.2f} to {max(loads):.2f}." if loads else ".")


def render(meta: dict[str, Any], runs: list[Any], held: list[Any]) -> str:
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for run in runs:
        groups[(run.proxy, run.concurrency)].append(run)
    medians = {key: median_round(rounds) for key, rounds in groups.items()}
    lines = [
        "# The router's data path: overhead against a direct connection and nginx",
        "",
        f"Measured {meta['started']} on {meta['machine']} with `{meta['command']}` (`make bench-router`);",
        f"{meta['nginx']}, {meta['go']}, Python {meta['python']}. Everything on 127.0.0.1: a fake engine",
        "streaming OpenAI-shaped SSE chunks (about 200 bytes, one per token) at a steady rate, the proxy, and a",
        "load client keeping N streams open back to back (both Go, `loadgen/`). Each row is the median of "
        f"{max(len(r) for r in groups.values())} rounds",
        f"(by CPU per chunk; every round is in results.json), {meta['seconds']:.0f} s measured per round.",
        "",
        load_line(meta, runs),
        "",
        "- *CPU per chunk*: the proxy's utime + stime (all its processes, /proc) over the measured window, "
        "divided by the chunks the client received in it; *chunks/s per core* is its inverse.",
        "- *TTFB*: request sent to the first chunk received; *chunk*: the backend's write to the client's read. "
        "In brackets, what the proxy adds to the direct connection's figure at the same concurrency.",
        "- *KiB per open stream*: the proxy's resident memory during the streams less before, per stream.",
        "",
        "| proxy | streams | chunks/s relayed | CPU µs per chunk | × nginx | chunks/s per core "
        "| TTFB p50 ms | TTFB p99 ms | chunk p50 ms | chunk p99 ms | KiB per open stream | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    proxies = list(dict.fromkeys(r.proxy for r in runs))
    for concurrency in sorted({r.concurrency for r in runs}):
        direct = medians.get(("direct", concurrency))
        nginx = medians.get(("nginx", concurrency))
        for proxy in proxies:
            r = medians.get((proxy, concurrency))
            if r is None:
                continue
            ratio = (f"{r.cpu_us_per_chunk / nginx.cpu_us_per_chunk:.2f}"
                     if r.cpu_us_per_chunk and nginx and nginx.cpu_us_per_chunk else "")
            base = None if proxy == "direct" or direct is None else direct
            lines.append(
                f"| {NAMES.get(proxy, proxy)} | {concurrency} × {r.chunks_per_stream_second}/s "
                f"| {r.relayed_chunks_per_second:,.0f} | {r.cpu_us_per_chunk or '–'} | {ratio or '–'} "
                f"| {f'{r.chunks_per_core_second:,}' if r.chunks_per_core_second else '–'} "
                f"| {_added(r.ttfb_p50_ms, base and base.ttfb_p50_ms)} "
                f"| {_added(r.ttfb_p99_ms, base and base.ttfb_p99_ms)} "
                f"| {_added(r.chunk_p50_ms, base and base.chunk_p50_ms)} "
                f"| {_added(r.chunk_p99_ms, base and base.chunk_p99_ms)} "
                f"| {r.kib_per_open_stream if r.kib_per_open_stream is not None else '–'} | {r.errors} |"
            )
    lines += [
        "",
        "CPU per chunk, every round (µs): "
        + "; ".join(
            f"{proxy} {c}: " + ", ".join(str(r.cpu_us_per_chunk) for r in rounds)
            for (proxy, c), rounds in groups.items() if proxy != "direct"
        ) + ".",
        "",
        f"## Memory per held request ({meta['held_requests']} requests with no answer yet)",
        "",
        "| proxy | how the requests wait | RSS before MiB | RSS holding MiB | KiB per held request |",
        "|---|---|---|---|---|",
    ]
    held_groups: dict[str, list[Any]] = defaultdict(list)
    for h in held:
        held_groups[h.proxy].append(h)
    for proxy, hs in held_groups.items():
        h = sorted(hs, key=lambda x: x.kib_per_held_request)[(len(hs) - 1) // 2]
        lines.append(f"| {NAMES.get(proxy, proxy)} | {h.how} | {h.rss_idle_mib} | {h.rss_held_mib} "
                     f"| {h.kib_per_held_request} (rounds: {', '.join(str(x.kib_per_held_request) for x in hs)}) |")
    lines.append("")
    return "\n".join(lines) + "\n"


def summary_cpu(runs: list[Any], proxy: str) -> float | None:
    """The median CPU per chunk of a proxy over both concurrencies (for docs)."""
    values = [r.cpu_us_per_chunk for r in runs if r.proxy == proxy and r.cpu_us_per_chunk]
    return statistics.median(values) if values else None
