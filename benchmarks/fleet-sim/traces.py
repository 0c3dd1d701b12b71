"""Seeded request traces: arrival times and service times (numpy arrays).

A trace is a rate curve (requests/s, one value per second) turned into a
Poisson process, plus a length for each request drawn from the assumptions.
The same seed gives the same trace, so every policy meets the same requests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import assumptions as A

DAY = 24 * 3600


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    duration: float
    rate: np.ndarray  # requests/s for each second, for the plot
    arrivals: np.ndarray  # seconds, sorted
    service: np.ndarray  # seconds each request occupies one batch slot


def diurnal_rate(seconds: np.ndarray, night: float, peak: float) -> np.ndarray:
    """Lowest at 04:00, highest at 16:00."""
    phase = 2 * np.pi * (seconds - 4 * 3600) / DAY
    return night + (peak - night) * (1 - np.cos(phase)) / 2


def add_bursts(rate: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Bursts between 07:00 and 22:00: +12..30 req/s for 4..12 minutes, arriving at once."""
    rate = rate.copy()
    for start in np.sort(rng.uniform(7 * 3600, 22 * 3600, count)).astype(int):
        extra, length = rng.uniform(12, 30), int(rng.uniform(4, 12) * 60)
        rate[start:start + length] += extra
    return rate


def poisson_arrivals(rate: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    counts = rng.poisson(rate)
    seconds = np.repeat(np.arange(len(rate), dtype=float), counts)
    return np.sort(seconds + rng.uniform(0, 1, len(seconds)))


def service_seconds(count: int, rng: np.random.Generator) -> np.ndarray:
    """Prefill share plus decode steps at the full batch (conservative: smaller batches step faster)."""
    prompt = rng.lognormal(np.log(A.PROMPT_TOKENS_MEDIAN), A.PROMPT_TOKENS_SIGMA, count)
    output = rng.lognormal(np.log(A.OUTPUT_TOKENS_MEDIAN), A.OUTPUT_TOKENS_SIGMA, count)
    prompt = np.minimum(prompt, A.MAX_MODEL_LEN / 2)
    output = np.clip(output, 1, A.MAX_MODEL_LEN - prompt)
    return prompt / A.PREFILL_TOKENS_PER_SECOND + output * A.STEP_SECONDS_AT_BATCH_LIMIT


def make_trace(name: str, description: str, rate: np.ndarray, rng: np.random.Generator) -> Trace:
    arrivals = poisson_arrivals(rate, rng)
    return Trace(name, description, float(len(rate)), rate, arrivals, service_seconds(len(arrivals), rng))


def bursty(seed: int = 8) -> Trace:
    rng = np.random.default_rng(seed)
    seconds = np.arange(DAY, dtype=float)
    rate = add_bursts(diurnal_rate(seconds, night=6.0, peak=36.0), rng, count=10)
    return make_trace("bursty", "24 h diurnal 6..36 req/s plus 10 bursts of +12..30 req/s for 4..12 min",
                      rate, rng)


def step(seed: int = 9) -> Trace:
    rng = np.random.default_rng(seed)
    rate = np.full(2 * 3600, 8.0)
    rate[1800:5400] = 40.0
    return make_trace("step", "2 h: 8 req/s, a step to 40 req/s at 0:30, back to 8 at 1:30", rate, rng)


TRACES = {"bursty": bursty, "step": step}
