"""Measure a real vLLM CPU server's decode step time at several batch sizes.

Starts one vLLM server (the CPU build from e2e/engine/venv.sh) on the tiny
generated Mixtral (tests/support/tiny_model.py: 2 layers, 8 experts, 2 per
token), then, for each batch size b and prompt length p, sends b completions at
once (prompt of p token ids, ``ignore_eos``) twice: with ``max_tokens`` N1 and
with N2. The step time while all b run together is

- client: (median end-to-end time at N2 - median at N1) / (N2 - N1): the difference
  cancels the prefill, the HTTP round trip and the detokenizer (streamed chunks
  would not do: the API server merges tokens into one chunk when it falls behind);
- server: the mean of ``vllm:inter_token_latency_seconds`` over the N2 round (a cross-check).

Each (b, p) is measured ``--repetitions`` times; every sample is kept, with
the 1-minute load average before each round, because the machine's 2 cores
are shared (Go builds, other engineers' tests). Writes JSON for engine.py's
fit (``python engine.py --check`` prints the error table).

    python3 benchmarks/fleet-sim/calibrate.py --out benchmarks/fleet-sim/calibration/vllm-cpu-steps.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))  # tests/support, imported as the package support

from support.tiny_model import ensure_tiny_model  # noqa: E402
from support.vllm_server import DEFAULT_ENV, VllmServer, find_vllm_python  # noqa: E402

BATCHES = (1, 2, 4, 8, 16)
PROMPTS = (16, 192)
SHORT, LONG = 16, 80  # max_tokens of the two rounds
MAX_NUM_SEQS = 16
ITL = "vllm:inter_token_latency_seconds"


def metric_sums(base_url: str) -> tuple[float, float]:
    """(sum, count) of the inter-token latency histogram."""
    text = urllib.request.urlopen(f"{base_url}/metrics", timeout=10).read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith(ITL + "_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(ITL + "_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def one_request(base_url: str, model: str, prompt_len: int, max_tokens: int, seed: int, out: list,
                gate: threading.Barrier) -> None:
    body = json.dumps({"model": model, "prompt": [(seed * 31 + i * 7) % 1000 + 10 for i in range(prompt_len)],
                       "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0.0}).encode()
    request = urllib.request.Request(f"{base_url}/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    gate.wait()
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.loads(response.read())
    out.append((time.perf_counter() - started, answer["usage"]["completion_tokens"]))


def concurrent(base_url: str, model: str, batch: int, prompt_len: int, max_tokens: int, seed: int) -> float:
    """Median end-to-end seconds of ``batch`` completions sent at once."""
    results: list = []
    gate = threading.Barrier(batch)
    threads = [threading.Thread(target=one_request,
                                args=(base_url, model, prompt_len, max_tokens, seed + i, results, gate))
               for i in range(batch)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(results) != batch or any(tokens != max_tokens for _, tokens in results):
        raise RuntimeError(f"expected {batch} completions of {max_tokens} tokens, got {results}")
    return statistics.median(seconds for seconds, _ in results)


def round_trip(base_url: str, model: str, batch: int, prompt_len: int, seed: int) -> dict:
    short = concurrent(base_url, model, batch, prompt_len, SHORT, seed)
    before = metric_sums(base_url)
    long = concurrent(base_url, model, batch, prompt_len, LONG, seed)
    after = metric_sums(base_url)
    return {
        "client_step_s": (long - short) / (LONG - SHORT),
        "server_itl_s": (after[0] - before[0]) / max(1.0, after[1] - before[1]),
        "e2e_short_s": short, "e2e_long_s": long,
        "ctx_tokens": batch * (prompt_len + (SHORT + LONG) / 2),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    python = find_vllm_python()
    if python is None:
        print("the vLLM CPU venv is not built (e2e/engine/venv.sh)", file=sys.stderr)
        return 2
    model_dir = ensure_tiny_model(python)
    log = args.out.with_suffix(".server.log")
    server = VllmServer(python, model_dir, log, args=("--dtype", "bfloat16", "--max-model-len", "512",
                                                       "--max-num-seqs", str(MAX_NUM_SEQS)))
    samples = []
    started = time.time()
    server.start()
    try:
        model = str(model_dir)
        for warm in range(3):  # compile and warm the shapes before measuring
            round_trip(server.base_url, model, MAX_NUM_SEQS, 64, 1000 + warm)
        for rep in range(args.repetitions):
            for prompt_len in PROMPTS:
                for batch in BATCHES:
                    load = os.getloadavg()[0]
                    sample = round_trip(server.base_url, model, batch, prompt_len, seed=rep * 100)
                    samples.append({"batch": batch, "prompt_tokens": prompt_len, "max_tokens": [SHORT, LONG],
                                    "repetition": rep, "loadavg_1m": load, **sample})
                    print(f"rep {rep} prompt {prompt_len:4d} batch {batch:2d}: "
                          f"client {sample['client_step_s'] * 1e3:7.2f} ms"
                          f"  server {sample['server_itl_s'] * 1e3:7.2f} ms  load {load:.2f}", flush=True)
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "what": "decode step time of a real vLLM CPU server (tiny Mixtral) at several batch sizes",
        "command": "python3 benchmarks/fleet-sim/calibrate.py --out " + str(args.out.resolve().relative_to(REPO))
                   + f" --repetitions {args.repetitions}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "note": "2 cores shared with Go builds and other engineers' tests: timings are noisy"},
        "engine": {"venv": str(python.parent.parent.name), "args": server.args, "env": DEFAULT_ENV},
        "model": {"dir": model_dir.name, "config": "tests/support/tiny_model.py MODEL_CONFIG"},
        "samples": samples,
    }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
