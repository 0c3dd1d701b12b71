"""Can the engines' counters stand in for the offered rate? Sizing on the arrival rate they give, under the protocol.

    python explore_counters.py [--cold-starts 60 20] [--windows 60 120 300] [--shares 5 5.5] [--smooth 0 60]
                               [--traces ...] [--cache FILE] > counter-rate.md

reactive_bound.py hands a reference the trace's offered rate; no autoscaler has it. What one can read is
each engine's finished-requests counter (vllm:request_success_total) and its requests in flight
(vllm:num_requests_running + vllm:num_requests_waiting): the requests that arrived at a replica between
two scrapes are the ones it finished plus the change in its in-flight count. This policy (CounterRate)
reads them every 15 s, as the operator scrapes, and asks, like the reference, ceil(the highest rate of the
last W seconds / S), the rate being each 15 s interval's (smooth 0) or the mean over ``smooth`` seconds.
No stabilization beyond W, no step limit, no dwell: the reference's shape with the reference's input
replaced by what the engines report. Tuning seeds only, Service routing, the peer tuned to its waits as
run.py tunes it to ours (run.against_tuned_peer).
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import deque
from pathlib import Path

import assumptions as A
import run
from fleet import FleetView
from reactive_bound import means
from traces import TRACES

HERE = Path(__file__).resolve().parent
ROUTING = "service"


class CounterRate:
    """Every 15 s: arrivals since the last decision = finished + change in flight, per replica seen in both
    (a new replica's counters start at 0); asks ceil(highest 15 s rate of the last W s / S)."""

    interval = 15.0
    family = "counters"

    def __init__(self, window: float, share: float, smooth: float = 0.0):
        self.window, self.share, self.smooth = window, share, smooth
        self.knob = f"W {window:g}, S {share:g}"
        self.name = f"counter rate, {self.knob}"
        self.before: dict[int, tuple[int, float]] = {}
        self.rates: deque[tuple[float, float]] = deque()
        self.last: float | None = None

    def decide(self, view: FleetView) -> int:
        arrivals = 0.0
        for r in view.ready:
            done, flight = self.before.get(r.id, (0, 0.0))
            arrivals += (r.completed - done) + (r.running + r.waiting - flight)
        self.before = {r.id: (r.completed, r.running + r.waiting) for r in view.ready}
        if self.last is not None:
            self.rates.append((view.now, arrivals / (view.now - self.last)))
        self.last = view.now
        while self.rates and self.rates[0][0] <= view.now - self.window:
            self.rates.popleft()
        if not self.rates:
            return view.asked
        if self.smooth:  # the mean over the last `smooth` seconds, the highest such mean within W
            values = [v for _, v in self.rates]
            k = max(1, int(self.smooth / self.interval))
            k = min(k, len(values))
            rate = max(sum(values[i:i + k]) / k for i in range(len(values) - k + 1))
        else:
            rate = max(v for _, v in self.rates)
        return max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, math.ceil(rate / self.share)))


class CounterRunner(run.Runner):
    """run.Runner that also runs CounterRate, spec ("counters", W, S, smooth)."""

    def policy(self, spec: tuple, trace, cold_start: float):
        if spec[0] != "counters":
            return super().policy(spec, trace, cold_start)
        _, window, share, smooth = spec
        return CounterRate(window, share, smooth)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-starts", nargs="+", type=float, default=[60.0, 20.0])
    parser.add_argument("--windows", nargs="+", type=float, default=[60.0, 120.0, 300.0])
    parser.add_argument("--shares", nargs="+", type=float, default=[5.0, 5.5])
    parser.add_argument("--smooth", nargs="+", type=float, default=[0.0, 60.0])
    parser.add_argument("--traces", nargs="+", default=list(TRACES), choices=list(TRACES))
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    runner, known = CounterRunner(args.cache), run.committed_tuning(HERE / "results.json")
    print(f"`python explore_counters.py {' '.join(argv)}`, Service routing, tuning seeds "
          f"{', '.join(map(str, run.TUNING_SEEDS))} (means; ratio: mean GPU-hours over the tuned peer's, "
          "and the range over the seeds):\n")
    print("| cold start | trace | W (s) | S (req/s per replica) | smooth (s) | counters: GPU-h, p95 / p99 (s), "
          "reversals | peer tuned to its waits: GPU-h, p95 / p99 (s), reversals | GPU-h ratio |")
    print("|---:|---|---:|---:|---:|---|---|---:|")
    for cold in args.cold_starts:
        for trace in args.traces:
            for window in args.windows:
                for share in args.shares:
                    for smooth in args.smooth:
                        ref, tuning, peer = run.against_tuned_peer(runner, ("counters", window, share, smooth),
                                                                   trace, cold, ROUTING, known)
                        reach = "" if tuning["reaches"] else " (none reaches)"
                        ratios = [r["gpu_hours"] / p["gpu_hours"] for r, p in zip(ref, peer)]
                        print(f"| {cold:g} s | {trace} | {window:g} | {share:g} | {smooth:g} | {means(ref)} | "
                              f"{run.label(tuning['peer'])}{reach}: {means(peer)} | "
                              f"{run.mean(ref, 'gpu_hours') / run.mean(peer, 'gpu_hours'):.2f} "
                              f"({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)
                runner.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
