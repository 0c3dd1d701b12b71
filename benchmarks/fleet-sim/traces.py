"""Seeded request traces: arrival times, prompt and output tokens (numpy arrays).

Three shapes; the same (shape, seed) gives the same requests, so every policy meets the same load.

- ``bursty``: 8 h of a chat service's morning-to-afternoon ramp (4 -> 28 req/s) plus 5 bursts of
  +8..20 req/s for 4..12 minutes that start at once. Chat lengths (ShareGPT-like).
- ``step``: 2 h at 6 req/s with a step to 30 req/s from 0:30 to 1:30. Chat lengths.
- ``azure-conv``: 3 h whose token lengths follow the Azure LLM inference trace 2023, conversation
  (published medians: 1,020 prompt tokens, 129 output tokens; Patel et al., "Splitwise: Efficient
  Generative LLM Inference Using Phase Splitting", ISCA 2024, Section III / Fig. 3, the paper that
  released the trace as AzurePublicDataset/AzureLLMInferenceDataset2023). The trace holds 19,366
  requests in one hour (~5.4 req/s); we keep its shape, not its rate (scaled to 22 req/s mean so
  that it needs several replicas). Burstiness: the issue quotes 1-second peaks 26x the mean for
  the 2023 code trace; we cannot read the dataset here (no internet), so arrivals are a Poisson
  process whose per-second rate is the mean x a minute-scale lognormal walk x a Gamma(0.4) factor
  per second (coefficient of variation 1.6), which gives 1-second peaks of ~25-35x the mean over
  3 h. The lognormal spreads (sigma) of the token lengths are our choice, not published numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import assumptions as A
import numpy as np

HOUR = 3600


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    duration: float
    rate: np.ndarray  # offered requests/s for each second (the expectation; for plots and "needed")
    arrivals: np.ndarray  # seconds, sorted
    prompt: np.ndarray  # tokens
    output: np.ndarray  # tokens
    bursts: tuple[float, ...] = field(default=())  # times a burst starts, for "wait after a burst"


@dataclass(frozen=True)
class Lengths:
    prompt_median: float
    prompt_sigma: float
    output_median: float
    output_sigma: float


# ShareGPT-like chat, as the previous simulator used: prompts longer than answers, long tails.
CHAT = Lengths(prompt_median=512, prompt_sigma=1.0, output_median=200, output_sigma=0.8)
# Azure LLM inference trace 2023, conversation: the medians from Splitwise (ISCA 2024); sigmas ours.
AZURE_CONV = Lengths(prompt_median=1020, prompt_sigma=1.0, output_median=129, output_sigma=1.0)


def lengths(count: int, spec: Lengths, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    prompt = np.maximum(1, rng.lognormal(np.log(spec.prompt_median), spec.prompt_sigma, count)).astype(int)
    output = np.maximum(1, rng.lognormal(np.log(spec.output_median), spec.output_sigma, count)).astype(int)
    prompt = np.minimum(prompt, A.MAX_MODEL_LEN - 64)  # longer prompts are refused by the engine
    output = np.minimum(output, A.MAX_MODEL_LEN - prompt)
    return prompt, output


def poisson_arrivals(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    counts = rng.poisson(rate)
    seconds = np.repeat(np.arange(len(rate), dtype=float), counts)
    return np.sort(seconds + rng.uniform(0, 1, len(seconds)))


def make_trace(name, description, rate, rng, spec: Lengths, bursts=(), realised=None) -> Trace:
    arrivals = poisson_arrivals(rate if realised is None else realised, rng)
    prompt, output = lengths(len(arrivals), spec, rng)
    return Trace(name, description, float(len(rate)), rate, arrivals, prompt, output, tuple(bursts))


def bursty(seed: int) -> Trace:
    rng = np.random.default_rng([1, seed])
    seconds = np.arange(8 * HOUR, dtype=float)
    rate = 4.0 + 24.0 * (1 - np.cos(np.pi * seconds / (8 * HOUR))) / 2
    starts = np.sort(rng.uniform(0.75 * HOUR, 7.5 * HOUR, 5)).astype(int)
    for start in starts:
        rate[start:start + int(rng.uniform(4, 12) * 60)] += rng.uniform(8, 20)
    return make_trace("bursty", "8 h ramp 4 -> 28 req/s plus 5 bursts of +8..20 req/s for 4..12 min; chat lengths",
                      rate, rng, CHAT, bursts=[float(s) for s in starts])


def step(seed: int) -> Trace:
    rng = np.random.default_rng([2, seed])
    rate = np.full(2 * HOUR, 6.0)
    rate[1800:5400] = 30.0
    return make_trace("step", "2 h: 6 req/s, a step to 30 req/s at 0:30, back to 6 at 1:30; chat lengths",
                      rate, rng, CHAT, bursts=[1800.0])


SHAPE = 0.4  # of the per-second Gamma factor


def azure_conv(seed: int) -> Trace:
    rng = np.random.default_rng([3, seed])
    seconds = 3 * HOUR
    minutes = seconds // 60
    walk = np.exp(np.cumsum(rng.normal(0, 0.08, minutes)))
    walk /= walk.mean()
    slow = np.repeat(np.clip(walk, 0.3, 3.0), 60)[:seconds]
    rate = 22.0 * slow * np.minimum(1.0, (np.arange(seconds) + 1) / 900)  # ramps in over 15 min from 2 replicas
    realised = rate * rng.gamma(SHAPE, 1 / SHAPE, seconds)
    bursts = minute_bursts(rate)
    return make_trace("azure-conv", "3 h, Azure 2023 conversation token lengths, bursty arrivals "
                      "(22 req/s mean, per-second Gamma(0.4) on a minute-scale lognormal walk)",
                      rate, rng, AZURE_CONV, bursts=bursts, realised=realised)


def minute_bursts(rate: np.ndarray) -> list[float]:
    """Minutes whose rate is 1.3x the mean of the 10 minutes before (the start of each such run)."""
    per_minute = rate[: len(rate) // 60 * 60].reshape(-1, 60).mean(axis=1)
    starts = []
    for m in range(10, len(per_minute)):
        if per_minute[m] > 1.3 * per_minute[m - 10:m].mean() and (not starts or m * 60 - starts[-1] > 600):
            starts.append(float(m * 60))
    return starts


TRACES = {"bursty": bursty, "step": step, "azure-conv": azure_conv}
