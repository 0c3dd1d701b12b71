"""How far below the same-signal peer's curve can any policy get? Reference policies no autoscaler can be.

The earlier protocol (ideal central queue, 180 s cold start, every sweep on seeds 0-5): bounds.md was
made with run.py as of commit 8d251c3, whose results.json held that sweep; today's run.py (issue 26's
protocol) writes another format, so regenerate bounds.md from that commit:

    git worktree add /tmp/fleet-sim-8d251c3 8d251c3 && cd /tmp/fleet-sim-8d251c3/benchmarks/fleet-sim
    python run.py && python bounds.py [--out DIR]     # reads results.json's KEDA running+waiting sweep

The verdict of run.py asks modelfleet's default for at most 0.85x the GPU-hours of the best tuned
KEDA on running + waiting, at equal or lower p95 and p99 wait, on every trace and seed. This file
measures what that bar asks for, on the same simulator, traces and seeds, with three references
that are handed the trace's offered rate (``Trace.rate``, the expectation the arrivals are drawn
from), which a real autoscaler never sees:

- *clairvoyant*: replicas for the highest offered rate over the next cold start + 60 s, so every
  replica is Ready when its load arrives;
- *knows the rate now*: replicas for the highest offered rate of the last 300 s (the HPA's and our
  scale-down window), exactly, at once: no sampling noise, no scrape lag, no queue to read, but no
  foresight. Two headroom shapes: a share of each replica's throughput (like any occupancy or
  per-replica target), or a fixed number of spare requests per second (sized for a burst of known
  size, whatever the load);
- the peer against itself: each KEDA setting's GPU-hours over what the rest of its own sweep needs
  to wait no longer, i.e. how far single runs scatter around the peer's curve.

Each point is placed on the peer's curve the way run.py places ours (``gpu_hours_to_reach``).
Deterministic, like run.py.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
from pathlib import Path

import assumptions as A
import numpy as np
from fleet import Fleet, simulate
from numpy.lib.stride_tricks import sliding_window_view
from run import summarize
from traces import AZURE_CONV, CHAT, TRACES, Trace, make_trace

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2, 3, 4, 5)  # the earlier protocol's
PEER = "KEDA/HPA running+waiting"
LOOK_BACK_SECONDS = 300  # the scale-down window every policy in run.py holds
LOOK_AHEAD_SECONDS = int(A.COLD_START_SECONDS) + 60
SHARE_SETTINGS = (3.0, 3.5, 4.0, 4.5, 5.0, 5.5)  # requests/s each replica is planned to take
SPARE_SETTINGS = (4.0, 8.0, 12.0, 16.0, 20.0)  # spare requests/s held over the offered rate
TRACE_LENGTHS = {"bursty": CHAT, "step": CHAT, "azure-conv": AZURE_CONV}


def gpu_hours_to_reach(peers: list[dict], ours: dict) -> float | None:
    """GPU-hours the family's curve needs to wait no longer than ``ours`` at p95 and at p99: along the
    sweep ordered by GPU-hours, linear between neighbouring settings (None if no setting gets there)."""
    points = sorted(peers, key=lambda p: p["gpu_hours"])
    needed = []
    for key in ("p95", "p99"):
        target = ours[key] + 1e-9
        reach = None
        for a, b in zip([None] + points[:-1], points):
            if b[key] <= target:
                if a is None or a[key] <= target:
                    reach = b["gpu_hours"]
                else:
                    reach = a["gpu_hours"] + (a[key] - target) / (a[key] - b[key]) * (b["gpu_hours"] - a["gpu_hours"])
                break
        if reach is None:
            return None
        needed.append(reach)
    return max(needed)


def full_replica_rate(lengths) -> float:
    """Requests/s one replica finishes with its batch full, for these token lengths: one replica
    under 40 req/s for 30 minutes (far above what it serves), completions over the time."""
    rng = np.random.default_rng(0)
    trace = make_trace("saturating", "", np.full(1800, 40.0), rng, lengths)

    class One:
        interval, family, name, knob = 15.0, "fixed", "fixed 1", "1"

        def decide(self, view) -> int:
            return 1

    fleet = Fleet(trace, One(), initial_replicas=1, routing="ideal")
    fleet.run()
    return float(fleet.completed.sum()) / (trace.duration + 3600)  # the run drains for an hour after


def highest(rate: np.ndarray, start: int, stop: int) -> np.ndarray:
    """For each second t, the highest rate over [t + start, t + stop] (edges padded with the end values)."""
    width = stop - start
    padded = np.concatenate([np.full(max(0, -start), rate[0]), rate, np.full(max(0, stop), rate[-1])])
    offset = max(0, -start) + start
    return sliding_window_view(padded, width + 1).max(axis=1)[offset:offset + len(rate)]


class KnownRate:
    """Replicas for a window of the trace's offered rate, with headroom of one of two shapes."""

    interval = 15.0

    def __init__(self, trace: Trace, family: str, planned: np.ndarray, setting: float, shape: str,
                 full_rate: float):
        self.family, self.knob = family, setting
        self.name = f"{family}, {setting:g} req/s " + ("per replica" if shape == "share" else "spare")
        self.planned = planned
        self.divide = setting if shape == "share" else full_rate
        self.spare = 0.0 if shape == "share" else setting

    def decide(self, view) -> int:
        rate = self.planned[min(int(view.now), len(self.planned) - 1)]
        return max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, math.ceil((rate + self.spare) / self.divide)))


FAMILIES = {  # name: (window start, window stop relative to now, headroom shape, settings)
    "clairvoyant": (0, LOOK_AHEAD_SECONDS, "share", SHARE_SETTINGS),
    "knows the rate now": (-LOOK_BACK_SECONDS, 0, "share", SHARE_SETTINGS),
    "knows the rate now, spare": (-LOOK_BACK_SECONDS, 0, "spare", SPARE_SETTINGS),
}


def run_one(job: tuple[str, int, str, float, float]) -> dict:
    trace_name, seed, family, setting, full_rate = job
    trace = TRACES[trace_name](seed)
    start, stop, shape, _ = FAMILIES[family]
    policy = KnownRate(trace, family, highest(trace.rate, start, stop), setting, shape, full_rate)
    result = simulate(trace, policy, routing="ideal")
    result.seed = seed
    row = summarize(trace, result, setting)
    row.pop("timeline")
    return row


def place(row: dict, peers: list[dict]) -> dict:
    """The row on the peer's curve: GPU-hours over what the peer needs to wait no longer (None: it never does)."""
    reach = gpu_hours_to_reach(peers, row)
    return {**row, "curve_ratio": None if reach is None else round(row["gpu_hours"] / reach, 3)}


def peer_against_itself(peer_rows: list[dict]) -> list[dict]:
    out = []
    for row in peer_rows:
        rest = [p for p in peer_rows if p["trace"] == row["trace"] and p["seed"] == row["seed"] and p is not row]
        out.append(place(row, rest))
    return out


def by_seed(rows: list[dict]) -> dict[tuple[str, str, float], list[float | None]]:
    """(family, trace, setting) -> the curve ratio on each seed, in seed order."""
    out: dict[tuple[str, str, float], list[float | None]] = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        out.setdefault((r["family"], r["trace"], r["knob"]), []).append(r["curve_ratio"])
    return out


def fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def bounds_md(rows: list[dict], full_rates: dict[str, float]) -> str:
    lines = [
        "# What the bar asks for: reference policies on the peer's curve",
        "",
        "Generated by `python bounds.py` (after `python run.py`; `make bench-fleet` runs both). "
        "Each number is GPU-hours over what KEDA on running + waiting needs to wait no longer at p95 "
        "and p99, on its curve (results.json's sweep); the bar is at most 0.85 on every trace and seed. "
        "'-': the peer never waits that little (no point of its curve reaches). The policies and "
        "why: the docstring of bounds.py.",
        "",
        "Full-batch throughput of one replica (one replica under 40 req/s for 30 min): "
        + ", ".join(f"{trace} {rate:.2f} req/s" for trace, rate in full_rates.items()) + ".",
        "",
        f"## Each setting on seeds {' / '.join(str(seed) for seed in SEEDS)}",
        "",
        "| policy | setting | " + " | ".join(TRACES) + " |",
        "|---|---|" + "---:|" * len(TRACES),
    ]
    seeds = by_seed(rows)
    for family in dict.fromkeys(r["family"] for r in rows):
        for setting in dict.fromkeys(r["knob"] for r in rows if r["family"] == family):
            cells = [" / ".join(fmt(x) for x in seeds.get((family, trace, setting), [])) for trace in TRACES]
            lines.append(f"| {family} | {setting:g} | " + " | ".join(cells) + " |")
    lines += ["", "## Every run", "",
              "| policy | setting | trace | seed | GPU-hours | p95 (s) | p99 (s) | ratio on the peer's curve "
              "| reversals/day |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['knob']:g} | {r['trace']} | {r['seed']} | {r['gpu_hours']:.1f} "
                     f"| {r['p95']:.1f} | {r['p99']:.1f} | {fmt(r['curve_ratio'])} | {r['reversals_per_day']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--processes", type=int, default=2)  # the machine has 2 cores, shared
    args = parser.parse_args(argv)
    runs = json.loads((args.out / "results.json").read_text())["runs"]
    peer_rows = [r for r in runs if r["family"] == PEER]
    full_rates = {trace: full_replica_rate(TRACE_LENGTHS[trace]) for trace in TRACES}
    jobs = [(t, s, f, k, full_rates[t]) for f, (_, _, _, settings) in FAMILIES.items()
            for t in TRACES for s in SEEDS for k in settings]
    with multiprocessing.Pool(args.processes) as pool:
        rows = pool.map(run_one, jobs, chunksize=1)
    placed = [place(r, [p for p in peer_rows if p["trace"] == r["trace"] and p["seed"] == r["seed"]])
              for r in rows] + peer_against_itself(peer_rows)
    (args.out / "bounds.md").write_text(bounds_md(placed, full_rates))
    (args.out / "bounds.json").write_text(json.dumps(
        {"command": "python bounds.py", "full_replica_rate": full_rates, "runs": placed}, indent=0) + "\n")
    print(bounds_md(placed, full_rates).split("## Every run")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
