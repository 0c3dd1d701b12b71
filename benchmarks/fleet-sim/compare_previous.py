"""An earlier commit's policy on the same traces and seeds, for the README's before -> after.

The earlier protocol (ideal central queue, 180 s cold start, seeds 0-2): previous.md compares the
policy before and after the burst reserve there; run.py's protocol (issue 26) supersedes it.

    python compare_previous.py [--commit 8848e7f] > previous.md

Loads ``operator/modelfleet/autoscale/policy.py`` as it was at ``--commit``
(git show) and runs it through the same simulator with the same settings as
``policies.Ours`` at its default occupancy; prints one markdown row per trace and seed.
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

import assumptions as A
import policies
import run
from fleet import simulate
from traces import TRACES

from modelfleet.autoscale.observations import EngineLoad, Observation

HERE = Path(__file__).resolve().parent
PREVIOUS: object = None


def load(commit: str):
    source = subprocess.run(["git", "show", f"{commit}:operator/modelfleet/autoscale/policy.py"], cwd=HERE,
                            check=True, capture_output=True, text=True).stdout
    source = source.replace("from .observations import", "from modelfleet.autoscale.observations import")
    path = Path(tempfile.mkdtemp()) / "previous_policy.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("previous_policy", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["previous_policy"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Previous(policies.Ours):
    def __init__(self, module):
        self.module, self.knob, self.family = module, "previous", "modelfleet (previous)"
        self.name = "modelfleet, previous policy"
        self.settings = module.PolicySettings(
            min_replicas=A.MIN_REPLICAS, max_replicas=A.MAX_REPLICAS, target_queue_depth=4.0, scale_up_window_s=0,
            scale_down_window_s=300, batch_limit=A.BATCH_LIMIT, target_occupancy=module.TARGET_OCCUPANCY)
        self.state = module.PolicyState()

    def decide(self, view) -> int:
        observations = tuple(Observation(f"replica-{r.id}", EngineLoad(waiting=r.waiting, running=r.running,
                                                                       completed=r.completed)) for r in view.ready)
        snapshot = self.module.FleetSnapshot(replicas=view.asked, ready=len(view.ready), observations=observations)
        decision = self.module.decide(self.settings, snapshot, self.state, view.now)
        self.state = decision.state
        return decision.replicas


def one(job: tuple[str, int, str]) -> dict:
    trace_name, seed, commit = job
    trace = TRACES[trace_name](seed)
    result = simulate(trace, Previous(load(commit)), routing="ideal")
    result.seed = seed
    return run.summarize(trace, result, 0.0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commit", default="8848e7f")  # the policy before the burst reserve
    args = parser.parse_args(argv)
    jobs = [(t, s, args.commit) for t in TRACES for s in (0, 1, 2, 3, 4, 5)]
    with multiprocessing.Pool(2) as pool:
        rows = pool.map(one, jobs, chunksize=1)
    print(f"# The previous policy (commit {args.commit}) on the same traces and seeds\n\n"
          f"Written by `python compare_previous.py --commit {args.commit} > previous.md` (the benchmark's venv): "
          "that commit's policy through the same simulator, settings and traces as results.md's modelfleet "
          "default.\n")
    print("| trace | seed | GPU-hours | p95 (s) | p99 (s) | reversals/day | flaps/day |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['trace']} | {r['seed']} | {r['gpu_hours']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
              f"{r['reversals_per_day']:.0f} | {r['changes_per_day']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
