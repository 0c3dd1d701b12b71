"""Tuning seeds only: our default with another scale-down window, against the peer tuned to its waits.

Issue 26's first idea for short cold starts: a scale-down window that follows the cold start (ski
rental: keep an idle replica about as long as bringing one back costs) instead of the HPA's 300 s.
Each rule is a window as a function of the cold start c; the HPA's 300 s is ``base``.

    python explore_scale_down.py [--cold-starts 60 20] [--rules base sqrt] [--down-band 0.1] [--routing service]

For each cold start and trace: our default with the rule's window on the tuning seeds (run.TUNING_SEEDS);
the peer tuned by run.tune itself (bisection over the same grid, the same slack), given the means
of the settings the committed run already tried from results.json (the peer's runs do not depend on ours,
so they are the same numbers) and running only the settings it did not try; then the tuned peer on each
tuning seed, for the per-seed ratios and its reversals. Fresh seeds are never run here.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import run
from policies import Ours

from modelfleet.autoscale import policy

HERE = Path(__file__).resolve().parent
RULES = {  # the scale-down window (s) for a cold start of c seconds
    "base": lambda c: 300.0,  # the HPA's default, the API's default before: kept whatever the cold start
    "k5/3": lambda c: 5 / 3 * c,  # 300 s at 180 s, in proportion
    "k5/3-floor120": lambda c: max(120.0, 5 / 3 * c),
    "sqrt": lambda c: 300.0 * (c / 180) ** 0.5,  # 173 s at 60 s, 100 s at 20 s
    "root4": lambda c: 300.0 * (c / 180) ** 0.25,  # 228 s at 60 s, 173 s at 20 s
}


class OursWithWindow(Ours):
    """Our default with the rule's scale-down window and, optionally, another hysteresis band (a module
    constant of the policy: set for this policy's decisions only)."""

    def __init__(self, rule: str, down_band: float, startup_seconds: float):
        super().__init__(startup_seconds=startup_seconds)
        self.settings = replace(self.settings, scale_down_window_s=RULES[rule](startup_seconds))
        self.down_band = down_band

    def decide(self, view) -> int:
        default, policy.DOWN_BAND = policy.DOWN_BAND, self.down_band
        try:
            return super().decide(view)
        finally:
            policy.DOWN_BAND = default


class ScaleDownRunner(run.Runner):
    """run.Runner that also runs OursWithWindow, spec ("ours-window", rule, down band)."""

    def policy(self, spec: tuple, trace, cold_start: float):
        if spec[0] != "ours-window":
            return super().policy(spec, trace, cold_start)
        return OursWithWindow(spec[1], spec[2], cold_start)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-starts", nargs="+", type=float, default=[60.0, 20.0])
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--down-band", type=float, default=policy.DOWN_BAND, help="the hysteresis band")
    parser.add_argument("--routing", default="service", choices=["service", "least"])
    parser.add_argument("--cache", type=Path, default=None, help="pickle of finished runs, to resume")
    args = parser.parse_args(argv)
    runner, known = ScaleDownRunner(args.cache), run.committed_tuning(HERE / "results.json")
    print("| cold start | rule | window (s) | trace | tuned peer | GPU-h ratio per tuning seed | GPU-h ours / peer "
          "| p95 ours / peer (s) | p99 ours / peer (s) | reversals ours / peer |")
    print("|---:|---|---:|---|---|---|---|---|---|---|")
    for cold in args.cold_starts:
        for rule in args.rules:
            for trace in ("bursty", "step", "azure-conv"):
                ours, tuning, peer = run.against_tuned_peer(runner, ("ours-window", rule, args.down_band), trace,
                                                            cold, args.routing, known)
                chosen, reaches = tuning["peer"], tuning["reaches"]
                ratios = " ".join(f"{o['gpu_hours'] / p['gpu_hours']:.3f}" for o, p in zip(ours, peer))
                print(f"| {cold:g} s | {rule} | {RULES[rule](cold):.0f} | {trace} | {run.label(chosen)}"
                      f"{'' if reaches else ' (none reaches our waits)'} | {ratios} | "
                      f"{run.mean(ours, 'gpu_hours'):.1f} / {run.mean(peer, 'gpu_hours'):.1f} | "
                      f"{run.mean(ours, 'p95'):.1f} / {run.mean(peer, 'p95'):.1f} | "
                      f"{run.mean(ours, 'p99'):.1f} / {run.mean(peer, 'p99'):.1f} | "
                      f"{sum(r['reversals'] for r in ours)} / {sum(r['reversals'] for r in peer)} |", flush=True)
            runner.save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
