"""Time to Ready of every LLMDeployment (its create -> its Ready status), one curve per run.

results-*.json -> time-to-ready.png:

    ~/.cache/modelfleet/venv/fleet-sim/bin/python benchmarks/controlplane/plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

HERE = Path(__file__).resolve().parent


def main() -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for path in sorted(HERE.glob("results-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        result = json.loads(path.read_text())
        times = result["create_to_ready_seconds"]
        ax.plot(times, [100 * (i + 1) / len(times) for i in range(len(times))],
                label=f"{result['count']} in one kubectl apply ({result['apply_seconds']} s to send)")
    ax.set_xlabel("seconds from an object's create to its status saying Ready")
    ax.set_ylabel("LLMDeployments Ready (%)")
    ax.set_title("Time to Ready on the local control plane (kwok nodes)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "time-to-ready.png", dpi=110)


if __name__ == "__main__":
    main()
