"""Run every policy's sweep on every trace and seed; write results.md, results.json and the plots.

    python run.py [--out DIR] [--traces bursty step azure-conv] [--seeds 0 1 2] [--families ...]

Deterministic: traces are seeded and the simulation has no other randomness.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from pathlib import Path

import assumptions as A
import numpy as np
from fleet import Result, simulate
from policies import SWEEPS, make
from traces import TRACES

from modelfleet.autoscale.policy import TARGET_OCCUPANCY

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2, 3, 4, 5)
OURS = "modelfleet"
DAY = 24 * 3600


def run_one(job: tuple[str, int, str, float]) -> dict:
    trace_name, seed, family, knob = job
    trace = TRACES[trace_name](seed)
    result = simulate(trace, make(family, knob))
    result.seed = seed
    return summarize(trace, result, knob)


def after_burst_waits(trace, result: Result) -> np.ndarray:
    mask = np.zeros(len(result.arrivals), dtype=bool)
    for start in trace.bursts:
        mask |= (result.arrivals >= start) & (result.arrivals < start + A.AFTER_BURST_SECONDS)
    return result.waits[mask]


def summarize(trace, result: Result, knob) -> dict:
    waits = result.waits
    p50, p95, p99 = (float(x) for x in np.percentile(waits, [50, 95, 99]))
    burst = after_burst_waits(trace, result)
    per_day = DAY / trace.duration
    return {
        "trace": result.trace, "seed": result.seed, "family": result.family, "policy": result.policy,
        "knob": knob, "label": result.knob, "requests": int(len(waits)),
        "gpu_hours": round(result.gpu_hours, 2), "p50": round(p50, 3), "p95": round(p95, 3), "p99": round(p99, 3),
        "slo_violations": round(float(np.mean(waits > A.SLO_QUEUE_WAIT_SECONDS)), 5),
        "changes_per_day": round(result.changes * per_day, 1),
        "reversals_per_day": round(result.reversals * per_day, 1),
        "burst_p95": round(float(np.percentile(burst, 95)), 3) if len(burst) else None,
        "burst_over_slo": round(float(np.mean(burst > A.SLO_QUEUE_WAIT_SECONDS)), 4) if len(burst) else None,
        "peak_kv_share": round(result.peak_kv_share, 3),
        "timeline": result.timeline if (result.seed == 0) else None,
    }


def is_default(row: dict) -> bool:
    return row["family"] == OURS and abs(row["knob"] - TARGET_OCCUPANCY) < 1e-9


def gpu_hours_to_reach(peers: list[dict], ours: dict) -> float | None:
    """GPU-hours the family's curve needs to wait no longer than ours at p95 and at p99: along the
    sweep ordered by GPU-hours, linear between neighbouring settings, the first point where the
    wait is down to ours (None if no setting gets there). Removes the sweep's grid from the ratio."""
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


def verdicts(rows: list[dict]) -> list[dict]:
    """Per trace and seed: our default against each peer family's best tuned setting.

    The best tuned peer is the cheapest setting of the family whose p95 AND p99 wait are at most
    ours. When no setting of the family reaches our waits, the setting with the lowest p99 is shown.
    ``dominated``: some setting of the family is at most ours on GPU-hours, p95 and p99 at once.
    """
    out = []
    for trace in dict.fromkeys(r["trace"] for r in rows):
        for seed in sorted({r["seed"] for r in rows if r["trace"] == trace}):
            here = [r for r in rows if r["trace"] == trace and r["seed"] == seed]
            ours = next((r for r in here if is_default(r)), None)
            if ours is None:
                continue
            for family in dict.fromkeys(r["family"] for r in here if r["family"] != OURS):
                peers = [r for r in here if r["family"] == family]
                reaching = [p for p in peers if p["p95"] <= ours["p95"] + 1e-9 and p["p99"] <= ours["p99"] + 1e-9]
                best = min(reaching, key=lambda p: p["gpu_hours"]) if reaching else min(peers, key=lambda p: p["p99"])
                dominated = any(p["gpu_hours"] <= ours["gpu_hours"] and p["p95"] <= ours["p95"]
                                and p["p99"] <= ours["p99"] for p in peers)
                curve = gpu_hours_to_reach(peers, ours)
                out.append({"trace": trace, "seed": seed, "family": family, "peer": best["label"],
                            "reaches_our_waits": bool(reaching), "ratio": ours["gpu_hours"] / best["gpu_hours"],
                            "curve_ratio": None if curve is None else ours["gpu_hours"] / curve,
                            "ours": ours, "best": best, "dominated": dominated,
                            "fewer_reversals": ours["reversals_per_day"] < best["reversals_per_day"]})
    return out


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def results_md(rows: list[dict], checks: list[dict], elapsed: float) -> str:
    lines = ["# Fleet simulation results", "",
             f"Generated by `make bench-fleet` (benchmarks/fleet-sim/run.py, {elapsed:.0f} s on this 2-core "
             "machine); the model and its sources: README.md, assumptions.py, engine.py, traces.py, policies.py. "
             f"Waits are queue waits (arrival -> admitted into a batch); SLO = wait <= {A.SLO_QUEUE_WAIT_SECONDS:g} s. "
             f"\"after a burst\": requests that arrive in the first {A.AFTER_BURST_SECONDS / 60:g} minutes after a "
             "burst starts. Flaps = scale changes; reversals = changes opposite to the previous one; both per day "
             "(scaled from the trace's length).", "",
             "## Verdict: modelfleet's default against each peer's best tuned setting", "",
             "Best tuned peer = the cheapest setting of that family whose p95 and p99 wait are both at most ours "
             "(\"no\" in *reaches*: no setting of the family gets there; the one with the lowest p99 is shown). "
             "Target: ratio <= 0.85 with fewer reversals. The sweep's settings are a grid, which flatters the ratio "
             "(the next setting may be just past our waits); *curve ratio* divides by the GPU-hours the family's "
             "curve needs to reach our p95 and p99, linear between neighbouring settings. *dominated*: a setting "
             "of the family is at most ours on GPU-hours, p95 and p99 at once (we are above its curve).", "",
             "| trace | seed | peer family | best tuned setting | reaches | GPU-h ours / peer | ratio | curve ratio | "
             "p95 ours / peer (s) | p99 ours / peer (s) | reversals/day ours / peer | dominated |",
             "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for c in checks:
        o, b = c["ours"], c["best"]
        lines.append(f"| {c['trace']} | {c['seed']} | {c['family']} | {c['peer']} | "
                     f"{'yes' if c['reaches_our_waits'] else 'no'} | {o['gpu_hours']:.1f} / {b['gpu_hours']:.1f} | "
                     f"{c['ratio']:.2f} | {fmt(c['curve_ratio'])} | "
                     f"{o['p95']:.1f} / {b['p95']:.1f} | {o['p99']:.1f} / {b['p99']:.1f} | "
                     f"{o['reversals_per_day']:.0f} / {b['reversals_per_day']:.0f} | "
                     f"{'yes' if c['dominated'] else 'no'} |")
    lines += ["", "## Every run", ""]
    for trace in dict.fromkeys(r["trace"] for r in rows):
        first = next(r for r in rows if r["trace"] == trace)
        lines += [f"### {trace}: {TRACES[trace](0).description}", "",
                  f"{first['requests']:,} requests (seed 0). "
                  f"Plots: [p95 and p99 vs GPU-hours](fleet-sim-{trace}.png).", "",
                  "| policy | seed | GPU-hours | p50 (s) | p95 (s) | p99 (s) | SLO violations "
                  "| p95 after a burst (s) | "
                  "after a burst > SLO | flaps/day | reversals/day |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in sorted((r for r in rows if r["trace"] == trace), key=lambda r: (r["family"] != OURS, r["family"],
                                                                                  r["knob"], r["seed"])):
            lines.append(f"| {r['policy']} | {r['seed']} | {r['gpu_hours']:.1f} | {r['p50']:.2f} | {r['p95']:.2f} | "
                         f"{r['p99']:.2f} | {100 * r['slo_violations']:.2f} % | {fmt(r['burst_p95'], 1)} | "
                         f"{fmt(None if r['burst_over_slo'] is None else 100 * r['burst_over_slo'], 1)} % | "
                         f"{r['changes_per_day']:.0f} | {r['reversals_per_day']:.0f} |")
        lines.append("")
    kv = max(r["peak_kv_share"] for r in rows)
    lines += [f"Peak KV-cache use of any replica in any run: {kv:.0%} of the {A.KV_TOKENS:,} tokens the sizing plan "
              "leaves for it (the plan reserves room for maxConcurrency sequences of maxModelLen, so the batch "
              "limit binds first)."]
    return "\n".join(lines) + "\n"


COLORS = {"modelfleet": "tab:blue", "KEDA/HPA running+waiting": "tab:orange", "KubeAI": "tab:green",
          "HPA GPU utilisation": "tab:red", "KEDA waiting (old trigger)": "tab:purple"}


def plot(trace: str, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    here = [r for r in rows if r["trace"] == trace]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    markers = {0: "o", 1: "s", 2: "^"}
    for ax, key in zip(axes, ("p95", "p99")):
        for family in dict.fromkeys(r["family"] for r in here):
            for seed in sorted({r["seed"] for r in here}):
                pts = sorted((r for r in here if r["family"] == family and r["seed"] == seed), key=lambda r: r["knob"])
                ax.plot([p["gpu_hours"] for p in pts], [max(p[key], 0.01) for p in pts], marker=markers.get(seed, "o"),
                        color=COLORS.get(family, "k"), lw=0.8, ms=4, alpha=0.8,
                        label=family if seed == 0 else None)
                for p in pts:
                    if is_default(p):
                        ax.plot(p["gpu_hours"], max(p[key], 0.01), marker="*", ms=14, color="tab:blue", mec="k")
        ax.set_yscale("log")
        ax.set_xlabel("GPU-hours")
        ax.set_ylabel(f"{key} queue wait (s, log)")
        ax.set_title(f"{trace}: GPU-hours vs {key} wait", loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="each line: one seed's sweep; star: modelfleet default", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_timeline(trace_name: str, rows: list[dict], path: Path) -> None:
    """Seed 0: replicas asked for over time, our default against each family's setting closest in GPU-hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    here = [r for r in rows if r["trace"] == trace_name and r["seed"] == 0 and r["timeline"]]
    ours = next(r for r in here if is_default(r))
    shown = [ours] + [min((r for r in here if r["family"] == f), key=lambda r: abs(r["gpu_hours"] - ours["gpu_hours"]))
                      for f in ("KEDA/HPA running+waiting", "KubeAI") if any(r["family"] == f for r in here)]
    trace = TRACES[trace_name](0)
    fig, axes = plt.subplots(len(shown), 1, figsize=(13, 2.4 * len(shown)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, r in zip(axes, shown):
        t, asked, ready, waiting = (np.array(c, dtype=float) for c in zip(*r["timeline"]))
        ax.step(t / 3600, asked, where="post", color="tab:blue", label="asked")
        ax.step(t / 3600, ready, where="post", color="tab:green", lw=0.8, label="ready")
        ax.set_ylim(0, A.MAX_REPLICAS + 1)
        q = ax.twinx()
        q.plot(t / 3600, waiting, color="tab:red", lw=0.6)
        q.set_ylabel("waiting", color="tab:red")
        ax.set_title(f"{r['policy']}: {r['gpu_hours']:.0f} GPU-h, p95 {r['p95']:.1f} s, p99 {r['p99']:.1f} s, "
                     f"{r['reversals_per_day']:.0f} reversals/day", loc="left", fontsize=9)
        for start in trace.bursts:
            ax.axvline(start / 3600, color="0.7", lw=0.6)
    axes[-1].set_xlabel("hours")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--traces", nargs="+", default=list(TRACES), choices=list(TRACES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--families", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--processes", type=int, default=2)  # the machine has 2 cores, shared
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    jobs = [(t, s, f, k) for t in args.traces for s in args.seeds for f in args.families for k in SWEEPS[f][1]]
    jobs.sort(key=lambda j: j[0] != "bursty")  # longest first
    with multiprocessing.Pool(args.processes) as pool:
        rows = pool.map(run_one, jobs, chunksize=1)
    elapsed = time.monotonic() - started
    checks = verdicts(rows)
    (args.out / "results.md").write_text(results_md(rows, checks, elapsed))
    (args.out / "results.json").write_text(json.dumps(
        {"command": "make bench-fleet", "runs": [{k: v for k, v in r.items() if k != "timeline"} for r in rows],
         "verdicts": [{k: v for k, v in c.items() if k not in ("ours", "best")} for c in checks]},
        indent=0) + "\n")
    for trace in args.traces:
        plot(trace, rows, args.out / f"fleet-sim-{trace}.png")
        if 0 in args.seeds and OURS in args.families:
            plot_timeline(trace, rows, args.out / f"fleet-sim-{trace}-timeline.png")
    for c in checks:
        o, b = c["ours"], c["best"]
        print(f"{c['trace']:10s} seed {c['seed']} vs {c['family']:26s} {c['peer']:18s} "
              f"reach={c['reaches_our_waits']!s:5s} ratio {c['ratio']:.2f} curve {fmt(c['curve_ratio'])}  "
              f"p95 {o['p95']:.1f}/{b['p95']:.1f} p99 {o['p99']:.1f}/{b['p99']:.1f} "
              f"rev {o['reversals_per_day']:.0f}/{b['reversals_per_day']:.0f} dominated={c['dominated']}")
    print(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
