"""Latency of the first requests after a replica turns Ready, with and without the warm-up sidecar.

Each repetition starts a fresh vLLM CPU server twice (one arm each, never two
servers at once), from a cache the pre-pull filled, with the engine pod's
rendered arguments (``tests/support/engine_pod.py``), a compile cache of its
own (a replica on a new node) and the tiny generated Mixtral:

- ``cold``: the pod would turn Ready when the engine's ``/health`` answers
  (its readiness probe); the first burst goes out at that moment;
- ``warmed``: the warm-up sidecar starts first, as in the pod; the first
  burst goes out when its ``/ready`` answers 200.

Then ``STEADY_BURSTS`` more bursts of the same make-up measure the steady
state. A burst is ``BURST`` requests at ``CONCURRENCY`` at once: short prompts
in several languages and code, and one long prompt, none of them the
warm-up's texts, each with a number of its own so nothing is served from the
prefix cache. The result is each arm's first-burst latency as a ratio to its
own steady state, per repetition and as the median over repetitions.

    .venv/bin/python benchmarks/warmup/bench.py --repetitions 5   # writes results.md and results.json here
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))  # tests/support, imported as the package support

import aiohttp  # noqa: E402

from support import tiny_model, vllm_server  # noqa: E402
from support.engine_pod import (  # noqa: E402
    TINY_REPO,
    on_this_machine,
    render_pod,
    run_prepull,
    start_warmup,
    stop_process,
    tiny_model_repos,
)
from support.hub_server import HubServer  # noqa: E402

MAX_MODEL_LEN = 256
CONCURRENCY = 4  # maxConcurrency: vLLM's --max-num-seqs and the warm-up's top level
BURST = 8
STEADY_BURSTS = 5
MAX_TOKENS = 32
LONG_PROMPT_WORDS = 100  # 196 of the tiny tokenizer's tokens: with 32 to generate, most of the 256-token context
REQUEST_TIMEOUT_S = 120
POLL_S = 0.1
MAX_POLLS = 6000  # 10 minutes of readiness polling, at most

# User traffic: none of these is a warm-up prompt (runtime/warmup_prompts.py).
TRAFFIC = [
    "Translate to French: the replica is ready to serve requests.",
    "Wie spät ist es in Tokio, wenn es in Berlin Mittag ist?",
    "¿Cuál es la capital de Australia y por qué no es Sídney?",
    "Scrivi una breve poesia sul mare d'inverno.",
    "def quicksort(xs):\n    # sort the list in place",
    "What is 48 divided by 6, plus 7 squared?",
    "Summarise the plot of Hamlet in two sentences.",
]
LONG_TEXT = " ".join(["The queue grows when requests arrive faster than the replicas finish them."] * 20)


@dataclass
class Arm:
    arm: str
    repetition: int
    ready_after_health_s: float  # how much later than /health the pod turns Ready
    first_burst_s: list[float]
    steady_s: list[float]

    @property
    def first_request_ratio(self) -> float:
        return self.first_burst_s[0] / statistics.median(self.steady_s)

    @property
    def first_burst_ratio(self) -> float:
        return statistics.median(self.first_burst_s) / statistics.median(self.steady_s)

    @property
    def first_burst_max_ratio(self) -> float:
        return max(self.first_burst_s) / statistics.median(self.steady_s)


def prompts(burst: int) -> list[str]:
    texts = [*TRAFFIC[:BURST - 1], " ".join(LONG_TEXT.split()[:LONG_PROMPT_WORDS])]
    return [f"Request {burst}.{i}: {text}" for i, text in enumerate(texts)]


async def send_burst(base_url: str, burst: int) -> list[float]:
    """Latencies of one burst, in the order the requests were sent; bounded in count and time."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession, prompt: str) -> float:
        body = {"model": TINY_REPO, "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0.0,
                "ignore_eos": True}
        async with gate:
            started = time.perf_counter()
            async with session.post(f"{base_url}/v1/completions", json=body) as response:
                text = await response.text()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status} from the engine: {text[:300]}")
            return time.perf_counter() - started

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(one(session, p) for p in prompts(burst))))


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_for_200(url: str) -> float:
    for _ in range(MAX_POLLS):
        if status(url) == 200:
            return time.monotonic()
        time.sleep(POLL_S)
    raise TimeoutError(f"{url} never answered 200")


def measure(arm: str, repetition: int, python: Path, cache: Path, work: Path) -> Arm:
    pod = on_this_machine(render_pod(MAX_MODEL_LEN, CONCURRENCY), cache,
                          engine_port=vllm_server.free_port(), warmup_port=vllm_server.free_port())
    engine_port = int(pod.warmup_args[pod.warmup_args.index("--engine-url") + 1].rsplit(":", 1)[1])
    warmup_port = int(pod.warmup_args[pod.warmup_args.index("--port") + 1])
    compile_cache = work / f"vllm-{arm}-{repetition}"  # a replica on a new node: nothing compiled yet
    env = {**pod.engine_env, "VLLM_CACHE_ROOT": str(compile_cache)}
    server = vllm_server.VllmServer(python, TINY_REPO, work / f"vllm-{arm}-{repetition}.log", args=pod.engine_args,
                                    env=env, port=engine_port)
    sidecar = start_warmup(pod, work / f"warmup-{repetition}.log") if arm == "warmed" else None
    try:
        server.launch()
        healthy_at = wait_for_200(f"{server.base_url}/health")
        ready_at = wait_for_200(f"http://127.0.0.1:{warmup_port}/ready") if sidecar else healthy_at
        first = asyncio.run(send_burst(server.base_url, 0))
        steady = [t for burst in range(1, STEADY_BURSTS + 1) for t in asyncio.run(send_burst(server.base_url, burst))]
    finally:
        if sidecar:
            stop_process(sidecar)
        server.stop()
        shutil.rmtree(compile_cache, ignore_errors=True)
    return Arm(arm, repetition, ready_at - healthy_at, first, steady)


def prepulled_cache(python: Path, work: Path) -> Path:
    cache = work / "cache"
    pod = on_this_machine(render_pod(MAX_MODEL_LEN, CONCURRENCY), cache, engine_port=0, warmup_port=0)
    with HubServer(tiny_model_repos(tiny_model.ensure_tiny_model(python))) as hub:
        result = run_prepull(pod, hub.url)
    if result.returncode != 0:
        raise RuntimeError(f"pre-pull failed:\n{result.stdout}\n{result.stderr}")
    return cache


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(arms: list[Arm]) -> str:
    lines = [
        "| arm | reps | first request / steady p50 | first burst p50 / steady p50 | first burst max / steady p50 "
        "| steady p50 (ms) | Ready after /health (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("cold", "warmed"):
        mine = [a for a in arms if a.arm == name]
        lines.append(
            f"| {name} | {len(mine)} | {median([a.first_request_ratio for a in mine]):.2f} "
            f"| {median([a.first_burst_ratio for a in mine]):.2f} "
            f"| {median([a.first_burst_max_ratio for a in mine]):.2f} "
            f"| {median([median(a.steady_s) for a in mine]) * 1000:.0f} "
            f"| {median([a.ready_after_health_s for a in mine]):.1f} |"
        )
    return "\n".join(lines)


def per_repetition(arms: list[Arm]) -> str:
    lines = ["| arm | rep | first request (ms) | first burst p50 (ms) | first burst max (ms) | steady p50 (ms) "
             "| ratio: first request | ratio: burst p50 | ratio: burst max |", "|---|---|---|---|---|---|---|---|---|"]
    for a in sorted(arms, key=lambda a: (a.arm, a.repetition)):
        lines.append(
            f"| {a.arm} | {a.repetition} | {a.first_burst_s[0] * 1000:.0f} | {median(a.first_burst_s) * 1000:.0f} "
            f"| {max(a.first_burst_s) * 1000:.0f} | {median(a.steady_s) * 1000:.0f} | {a.first_request_ratio:.2f} "
            f"| {a.first_burst_ratio:.2f} | {a.first_burst_max_ratio:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{platform.machine()}, {cpus} cores, Linux {platform.release()}, vLLM CPU build (e2e/engine/venv.sh)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    options = parser.parse_args()
    python = vllm_server.find_vllm_python()
    if python is None:
        sys.exit(f"the vLLM CPU virtualenv is not built: bash e2e/engine/venv.sh ({vllm_server.vllm_venv_path()})")
    with tempfile.TemporaryDirectory(prefix="modelfleet-bench-warmup-") as tmp:
        work = Path(tmp)
        cache = prepulled_cache(python, work)
        arms = []
        for repetition in range(1, options.repetitions + 1):
            for arm in ("cold", "warmed"):
                arms.append(measure(arm, repetition, python, cache, work))
                print(f"{arm} #{repetition}: first request {arms[-1].first_burst_s[0] * 1000:.0f} ms, "
                      f"steady p50 {median(arms[-1].steady_s) * 1000:.0f} ms", flush=True)
    (options.out / "results.json").write_text(json.dumps([asdict(a) for a in arms], indent=1) + "\n")
    report = results_markdown(arms, options.repetitions)
    (options.out / "results.md").write_text(report)
    print(report)


def results_markdown(arms: list[Arm], repetitions: int) -> str:
    return "\n".join([
        "# Warm-up benchmark results",
        "",
        f"Written by `benchmarks/warmup/bench.py --repetitions {repetitions}` on {time.strftime('%Y-%m-%d')}; "
        "what the numbers mean and how to read them: README.md.",
        "",
        f"Machine: {machine()}. Model: the tiny generated Mixtral (2 layers, 8 experts, 2 per token). "
        f"Engine: maxModelLen {MAX_MODEL_LEN}, maxConcurrency {CONCURRENCY}. Burst: {BURST} requests "
        f"({BURST - 1} short, 1 of {LONG_PROMPT_WORDS} words, ~200 tokens), {CONCURRENCY} at once, "
        f"{MAX_TOKENS} tokens each; "
        f"steady state: the {STEADY_BURSTS} bursts after the first. Ratios are to the same server's steady p50; "
        "the summary row is the median over repetitions, each a fresh server.",
        "",
        table(arms),
        "",
        "Per repetition:",
        "",
        per_repetition(arms),
        "",
    ])


if __name__ == "__main__":
    main()
