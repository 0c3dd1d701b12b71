"""The engine model: how long one vLLM step takes, for a batch of b sequences.

One formula, two parameter sets. A decode step streams the weights once and
the batch's KV cache once (decode is memory-bound), so for a mixture-of-experts
model with E experts of which k serve each token:

    step(b, ctx) = fixed + experts * (1 - (1 - k/E) ** b) + per_seq * b + per_kv_token * ctx

``fixed``: the dense weights' read plus per-step overhead (scheduler, kernel
launches, TP all-reduces); ``experts``: reading *all* expert weights, of which a
batch of b touches the share 1 - (1 - k/E)^b (b = 1 reads k/E of them, b = 16
nearly all); ``per_seq``: sampling and per-sequence work; ``per_kv_token``: the
attention's read of the context (``ctx`` = tokens in the batch's KV cache).
Prompts are chunked into the steps (vLLM's chunked prefill): a step that
carries p prompt tokens takes ``per_prefill_token * p`` longer, and one step
carries at most ``MAX_NUM_BATCHED_TOKENS`` tokens.

- the CPU fit: fitted to a real vLLM CPU server on the tiny Mixtral
  (calibration/vllm-cpu-steps.json, measured by calibrate.py) against vLLM's
  own inter-token latency (``vllm:inter_token_latency_seconds``: the time
  between two tokens of a request while the batch runs, i.e. one step).
  ``python engine.py --check`` prints the model against every measured batch
  size, with the client-side estimate as a cross-check.
- ``H100X2_MIXTRAL``: the simulated fleet (assumptions.py), from hardware numbers.

The CPU fit tests the *form* (does a step grow with batch and context the way
the formula says, on a real vLLM?); the GPU numbers cannot be measured here.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CALIBRATION = HERE / "calibration" / "vllm-cpu-steps.json"
# vLLM V1's default token budget per step for the OpenAI server on a GPU
# (vllm/engine/arg_utils.py, default_max_num_batched_tokens[OPENAI_API_SERVER] = 8192 for GPUs).
MAX_NUM_BATCHED_TOKENS = 8192


@dataclass(frozen=True)
class StepModel:
    fixed: float
    experts: float
    per_seq: float
    per_kv_token: float
    per_prefill_token: float
    experts_total: int = 8
    experts_per_token: int = 2

    def expert_share(self, batch):
        return 1.0 - (1.0 - self.experts_per_token / self.experts_total) ** np.asarray(batch, dtype=float)

    def decode_step(self, batch, ctx):
        """Seconds per decode step (vectorised over replicas)."""
        batch = np.asarray(batch, dtype=float)
        return self.fixed + self.experts * self.expert_share(batch) + self.per_seq * batch + self.per_kv_token * ctx

    def tick(self, dt: float, batch, ctx, prefill_backlog):
        """(decode steps, prompt tokens processed) per replica in ``dt`` seconds.

        Prompt tokens ride in the steps (chunked prefill): all of the backlog
        if it fits beside the decode steps, else each step carries the full
        token budget and decodes slow down accordingly.
        """
        step = self.decode_step(batch, ctx)
        batch = np.asarray(batch, dtype=float)
        room = np.maximum(1.0, MAX_NUM_BATCHED_TOKENS - batch)
        easy_steps = (dt - prefill_backlog * self.per_prefill_token) / step
        easy = (easy_steps > 0) & (easy_steps * room >= prefill_backlog)
        full_steps = dt / (step + room * self.per_prefill_token)
        steps = np.where(easy, easy_steps, full_steps)
        prefilled = np.where(easy, prefill_backlog, np.minimum(prefill_backlog, full_steps * room))
        return steps, prefilled


# Mixtral-8x7B on 2x H100 80GB (TP 2). Weights: 1.6 B dense parameters (3.2 GB) and 45.1 B expert
# parameters (90.2 GB) in bf16. Reading at 70 % of 2 x 3.35 TB/s = 4.7 TB/s: 0.7 ms for the dense
# part, 19.2 ms for all experts. Plus ~4 ms per step of scheduler, launches and 64 TP all-reduces.
# KV: 131,072 B per token (the sizing plan's number) / 4.7 TB/s = 28 ns per token of context.
# Prefill: 2 x 12.9 B active parameters = 25.8 GFLOP per token, at 25 % of 2 x 989 TFLOP/s
# (MoE prefill runs well below dense efficiency): 52 us per prompt token (~19 k tokens/s).
# Result: ~10 ms per step at batch 1 (~100 tokens/s for one stream, as published for Mixtral on
# 2x H100 with vLLM) and ~28 ms at batch 64 with 1,000 tokens each (~2,300 output tokens/s).
H100X2_MIXTRAL = StepModel(fixed=0.0047, experts=0.0192, per_seq=0.00005, per_kv_token=2.8e-8,
                           per_prefill_token=5.2e-5)


def load_calibration(path: Path = CALIBRATION) -> list[dict]:
    return json.loads(path.read_text())["samples"]


READING = "server_itl_s"


def measured(samples: list[dict], reading: str = READING) -> list[tuple[int, int, float, float, float, int, float]]:
    """(batch, prompt, median, min, max, n, ctx tokens) of one reading of the step time per (batch, prompt)."""
    groups: dict[tuple[int, int], list[float]] = {}
    ctx: dict[tuple[int, int], float] = {}
    for s in samples:
        groups.setdefault((s["batch"], s["prompt_tokens"]), []).append(s[reading])
        ctx[s["batch"], s["prompt_tokens"]] = s["ctx_tokens"]
    return [(b, p, float(np.median(v)), min(v), max(v), len(v), ctx[b, p]) for (b, p), v in sorted(groups.items())]


def fit_cpu(samples: list[dict]) -> StepModel:
    """Least squares of the formula's four coefficients on the medians (prefill rides along
    in the measurement: every request of a round starts together), non-negative."""
    rows = measured(samples)
    base = StepModel(0, 1, 0, 0, 0)
    columns = ["fixed", "experts", "per_seq", "per_kv_token"]
    x = np.array([[1.0, float(base.expert_share(b)), b, ctx] for b, p, _, _, _, _, ctx in rows])
    y = np.array([r[2] for r in rows])
    active = list(range(len(columns)))
    while True:  # drop negative coefficients and refit (a tiny non-negative least squares)
        # least squares of the relative error: every batch size counts alike
        coef, *_ = np.linalg.lstsq(x[:, active] / y[:, None], np.ones(len(y)), rcond=None)
        if (coef >= 0).all():
            break
        active.pop(int(np.argmin(coef)))
    values = dict.fromkeys(columns, 0.0)
    for i, c in zip(active, coef):
        values[columns[i]] = float(c)
    return StepModel(**values, per_prefill_token=0.0)


def check(samples: list[dict]) -> tuple[StepModel, list[dict]]:
    model = fit_cpu(samples)
    table = []
    client = {(b, p): median for b, p, median, *_ in measured(samples, "client_step_s")}
    for b, p, median, low, high, n, ctx in measured(samples):
        predicted = float(model.decode_step(b, ctx))
        table.append({"batch": b, "prompt_tokens": p, "measured_ms": median * 1e3, "min_ms": low * 1e3,
                      "max_ms": high * 1e3, "n": n, "model_ms": predicted * 1e3,
                      "error": predicted / median - 1, "client_ms": client[b, p] * 1e3})
    return model, table


def check_markdown(path: Path = CALIBRATION) -> str:
    data = json.loads(path.read_text())
    model, table = check(data["samples"])
    loads = [s["loadavg_1m"] for s in data["samples"]]
    lines = [
        "# Engine model calibration: real vLLM CPU server vs the step-time formula",
        "",
        f"Measured by `{data['command']}` on {data['date']} ({data['machine']['cpus']} cores; "
        f"{data['machine']['note']}; 1-minute load average during the rounds {min(loads):.1f}..{max(loads):.1f}). "
        f"Engine: {data['engine']['venv']}, args `{' '.join(data['engine']['args'])}`, model: the tiny Mixtral "
        f"(2 layers, 8 experts, 2 per token). Table by `python engine.py --check`.",
        "",
        f"Fitted (CPU): fixed {model.fixed * 1e3:.3f} ms, experts {model.experts * 1e3:.3f} ms, "
        f"per sequence {model.per_seq * 1e3:.4f} ms, per KV token {model.per_kv_token * 1e6:.4f} us.",
        "",
        "Measured: vLLM's `vllm:inter_token_latency_seconds` (mean over the round's tokens), median over the "
        "repetitions; client: (end-to-end at 80 tokens - at 16 tokens) / 64, median over repetitions, "
        "a cross-check that suffers more from the contention (the client threads share the 2 cores).",
        "",
        "| batch | prompt tokens | measured median (ms) | min..max (ms) | n | model (ms) | error | client (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        lines.append(f"| {row['batch']} | {row['prompt_tokens']} | {row['measured_ms']:.2f} | "
                     f"{row['min_ms']:.2f}..{row['max_ms']:.2f} | {row['n']} | {row['model_ms']:.2f} | "
                     f"{row['error']:+.1%} | {row['client_ms']:.2f} |")
    worst = max(abs(r["error"]) for r in table)
    lines += ["", f"Largest error: {worst:.1%} (target: within 15 %)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="print the calibration table (markdown)")
    args = parser.parse_args(argv)
    if args.check:
        sys.stdout.write(check_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
