"""Can any reactive policy meet issue 26's GPU-hours bar? A reference that knows the offered rate, under the protocol.

    python reactive_bound.py [--cold-starts 60 20] [--windows 300 60] [--shares 4 4.5 5 5.5]
                             [--traces ...] [--cache FILE] > reactive-bound.md

The reference (bounds.KnownRate, "knows the rate now") is handed what no autoscaler sees: the trace's
offered rate (``Trace.rate``, the expectation the arrivals are drawn from), exactly and at once. Every
15 s it asks for ceil(the highest offered rate of the last W seconds / S) replicas, S being the requests
per second each replica is planned to take (one replica's full-batch throughput is ~5.7 req/s:
bounds.md). It has no sampling noise, no scrape lag and no queue to read, but no foresight: it reacts to
a rise when the rise is there, and its replicas are Ready a cold start later, like every autoscaler's.

For each cold start and trace, under Service routing, on the tuning seeds only (run.TUNING_SEEDS), every
(W, S) is run; the peer is then tuned to *its* waits exactly as run.py tunes it to ours (run.tune: the
cheapest KEDA target whose mean p95 and p99 are within 0.5 s and 1 s), reusing the means the committed
run measured (results.json) and running only the settings it lacks. The ratio is the reference's mean
GPU-hours over the tuned peer's. If no (W, S) gets below the bar's 0.90 on a trace, no policy that
reacts to the load, however it reads it, meets the bar there on this simulator; only foresight would
(bounds.md's "clairvoyant").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import run
from bounds import KnownRate, highest
from traces import TRACES

HERE = Path(__file__).resolve().parent
ROUTING = "service"
WINDOWS = (300.0, 60.0)
SHARES = (4.0, 4.5, 5.0, 5.5)


class BoundRunner(run.Runner):
    """run.Runner that also runs the reference, spec ("rate", W, S)."""

    def policy(self, spec: tuple, trace, cold_start: float):
        if spec[0] != "rate":
            return super().policy(spec, trace, cold_start)
        _, window, share = spec
        return KnownRate(trace, "knows the rate now", highest(trace.rate, -int(window), 0), share, "share",
                         full_rate=share)


def means(rows: list[dict]) -> str:
    """GPU-hours, p95 / p99 (s), reversals: means over the rows, reversals summed."""
    return (f"{run.mean(rows, 'gpu_hours'):.1f}, {run.mean(rows, 'p95'):.1f} / {run.mean(rows, 'p99'):.1f}, "
            f"{sum(r['reversals'] for r in rows)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-starts", nargs="+", type=float, default=[60.0, 20.0])
    parser.add_argument("--windows", nargs="+", type=float, default=list(WINDOWS))
    parser.add_argument("--shares", nargs="+", type=float, default=list(SHARES))
    parser.add_argument("--traces", nargs="+", default=list(TRACES), choices=list(TRACES))
    parser.add_argument("--cache", type=Path, default=None, help="pickle of finished runs, to resume")
    args = parser.parse_args(argv)
    runner, known = BoundRunner(args.cache), run.committed_tuning(HERE / "results.json")
    print(f"`python reactive_bound.py {' '.join(argv)}`, Service routing, tuning seeds "
          f"{', '.join(map(str, run.TUNING_SEEDS))} (means):\n")
    print("| cold start | trace | W (s) | S (req/s per replica) | reference: GPU-h, p95 / p99 (s), reversals "
          "| peer tuned to its waits: GPU-h, p95 / p99 (s), reversals | GPU-h ratio |")
    print("|---:|---|---:|---:|---|---|---:|")
    for cold in args.cold_starts:
        for trace in args.traces:
            for window in args.windows:
                for share in args.shares:
                    ref, tuning, peer = run.against_tuned_peer(runner, ("rate", window, share), trace, cold,
                                                               ROUTING, known)
                    reach = "" if tuning["reaches"] else " (none reaches its waits)"
                    print(f"| {cold:g} s | {trace} | {window:g} | {share:g} | {means(ref)} | "
                          f"{run.label(tuning['peer'])}{reach}: {means(peer)} | "
                          f"{run.mean(ref, 'gpu_hours') / run.mean(peer, 'gpu_hours'):.2f} |", flush=True)
            runner.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
