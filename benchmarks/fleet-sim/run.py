"""Run every policy on every trace; write results.md and one PNG per trace.

    python run.py [--out DIR] [--traces bursty step]

Deterministic: traces are seeded and the simulation has no other randomness.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

import assumptions as A
from fleet import Result, simulate
from policies import OCCUPANCY_SWEEP, POLICIES, Ours
from traces import TRACES

HERE = Path(__file__).resolve().parent


SWEEP_TRACE = "bursty"


def run_one(job: tuple[str, str, float]) -> Result:
    """("trace", "policy index", i) runs a policy; ("trace", "occupancy", x) runs ours at occupancy x."""
    trace_name, kind, value = job
    policy = Ours(occupancy=value) if kind == "occupancy" else POLICIES[int(value)]()
    return simulate(TRACES[trace_name](), policy)


def summary_row(result: Result) -> str:
    waits = result.waits
    p50, p95, p99 = np.percentile(waits, [50, 95, 99])
    violations = 100 * np.mean(waits > A.SLO_QUEUE_WAIT_SECONDS)
    return (f"| {result.policy} | {result.gpu_hours:,.1f} | {p50:.2f} | {p95:.2f} | {p99:.2f} | "
            f"{violations:.2f} % |")


def oracle_gpu_hours(trace) -> float:
    """GPU-hours of a fleet that always had exactly the (fractional) replicas the load needs, at once."""
    return float(np.sum(needed_replicas(trace))) * A.GPUS_PER_REPLICA / 3600


def table(trace, results: list[Result]) -> str:
    header = (f"### {trace.name}: {trace.description}\n\n"
              f"{len(results[0].waits):,} requests. SLO: queue wait <= {A.SLO_QUEUE_WAIT_SECONDS:g} s. "
              f"For scale: a fleet that always had exactly the replicas the load needs, with no cold start, "
              f"would use {oracle_gpu_hours(trace):,.1f} GPU-hours.\n\n"
              "| policy | GPU-hours | p50 wait (s) | p95 wait (s) | p99 wait (s) | SLO violations |\n"
              "|---|---:|---:|---:|---:|---:|\n")
    return header + "\n".join(summary_row(r) for r in results) + "\n"


def sweep_table(results: list[Result]) -> str:
    return (f"### {SWEEP_TRACE}: our batch-occupancy target, swept\n\n"
            "The share of batch slots the policy aims to fill (the rest is spare for bursts while new "
            "replicas start). The default is 75 %.\n\n"
            "| policy | GPU-hours | p50 wait (s) | p95 wait (s) | p99 wait (s) | SLO violations |\n"
            "|---|---:|---:|---:|---:|---:|\n" + "\n".join(summary_row(r) for r in results) + "\n")


def needed_replicas(trace) -> np.ndarray:
    """The offered load in replicas: arrival rate x mean service time / batch slots."""
    return trace.rate * float(np.mean(trace.service)) / A.BATCH_LIMIT


def plot(trace, results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = 3600.0
    fig, axes = plt.subplots(len(results), 1, figsize=(13, 2.6 * len(results)), sharex=True, squeeze=False)
    need = needed_replicas(trace)
    for ax, result in zip(axes[:, 0], results):
        t, asked, ready, waiting = (np.array(c, dtype=float) for c in zip(*result.timeline))
        ax.fill_between(np.arange(len(need)) / hours, need, color="0.85", label="load (replicas needed)")
        ax.step(t / hours, asked, where="post", color="tab:blue", label="replicas asked for")
        ax.step(t / hours, ready, where="post", color="tab:green", lw=0.9, label="replicas ready")
        ax.set_ylim(0, A.MAX_REPLICAS + 1)
        ax.set_ylabel("replicas")
        queue = ax.twinx()
        queue.plot(t / hours, waiting, color="tab:red", lw=0.8, label="queue (requests waiting)")
        queue.set_ylabel("waiting", color="tab:red")
        queue.set_ylim(bottom=0)
        ax.set_title(f"{result.policy}: {result.gpu_hours:,.0f} GPU-h, "
                     f"p95 wait {np.percentile(result.waits, 95):.1f} s", loc="left", fontsize=10)
    handles = axes[0, 0].get_legend_handles_labels()
    queue_handles = axes[0, 0].figure.axes[len(results)].get_legend_handles_labels()
    fig.legend(handles[0] + queue_handles[0], handles[1] + queue_handles[1], loc="lower center", ncol=4,
               fontsize=9, frameon=False)
    axes[-1, 0].set_xlabel("hours")
    fig.suptitle(f"{trace.name}: {trace.description}", x=0.01, ha="left", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--traces", nargs="+", default=list(TRACES), choices=list(TRACES))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    jobs = [(name, "policy", index) for name in args.traces for index in range(len(POLICIES))]
    if SWEEP_TRACE in args.traces:
        jobs += [(SWEEP_TRACE, "occupancy", value) for value in OCCUPANCY_SWEEP]
    with multiprocessing.Pool(2) as pool:  # the machine has 2 cores, shared with others' builds
        results = pool.map(run_one, jobs, chunksize=1)
    sections = []
    for name in args.traces:
        trace = TRACES[name]()
        mine = [r for r, job in zip(results, jobs) if job[0] == name and job[1] == "policy"]
        sections.append(table(trace, mine))
        plot(trace, mine, args.out / f"fleet-sim-{name}.png")
    sweep = [r for r, job in zip(results, jobs) if job[1] == "occupancy"]
    if sweep:
        sections.append(sweep_table(sweep))
    (args.out / "results.md").write_text(render_results(sections))
    print("\n".join(sections))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


def render_results(sections: list[str]) -> str:
    return ("# Fleet simulation results\n\n"
            "Generated by `make bench-fleet` (benchmarks/fleet-sim/run.py); assumptions in "
            "assumptions.py and README.md.\n\n" + "\n".join(sections))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
