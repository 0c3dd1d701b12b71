"""The sparse trace family: many models, each its own fleet, most of them idle most of the day.

What it models (issue 27, deliverable 6): a platform team serving many LLMDeployments (fine-tunes,
per-team models, evaluation candidates) where a few models carry steady traffic and most are called
now and then: a person opens a chat, a notebook runs a few prompts, a nightly job scores a batch.
Public traces of that shape:

- Azure Functions, 2019 (Shahrad et al., "Serverless in the Wild: Characterizing and Optimizing the
  Serverless Workload at a Large Cloud Provider", USENIX ATC 2020, the paper that released the
  trace; its abstract: "most functions are invoked very infrequently, but there is an
  8-order-of-magnitude range of invocation frequencies"). We take that shape, not its numbers: a
  model's *sessions* arrive hours apart for most models, a few models are busy all day.
- The Azure LLM inference traces (2023: two services, code and conversation; 2024: a week of the
  same) are per service, not per model, so they cannot give the many-model spread; the 2024 week
  shows the diurnal cycle we put on every model (busier by day, a trough at night).
- The issue's own claim: an idle model holds its GPUs all night at ``minReplicas: 1``.

The dataset files cannot be read here (no internet): every number below is our choice, seeded.

Per model (``sparse(seed)``: ``MODELS`` models; the same (seed, model) always gives the same requests):
- *busy* (``BUSY`` of them): a Poisson stream all day, peak ``BUSY_PEAK`` req/s (log-uniform), on the
  diurnal curve;
- *sparse* (the rest): sessions arrive as a Poisson process on the diurnal curve, on average
  ``sessions_per_day`` a day, log-uniform in ``SESSIONS_PER_DAY`` (1 to 24: most models see their next
  session hours later); a session is a short burst: ``1 + Geometric`` requests (mean
  ``SESSION_REQUESTS``), one every Exponential(``THINK_SECONDS``) s (a person reading the answer and
  typing the next), so a session lasts a few minutes.
- The diurnal curve: ``NIGHT`` of the peak at the trough, the peak at 14:00 shifted by a model's own
  offset (teams in other time zones), uniform in +-``SHIFT_HOURS``.
- Chat lengths (traces.CHAT: prompt median 512 tokens, output median 200).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from traces import CHAT, HOUR, Trace, lengths

DAY = 24 * HOUR
MODELS = 24
BUSY = 2
BUSY_PEAK = (0.5, 2.0)  # req/s at the diurnal peak, log-uniform
SESSIONS_PER_DAY = (1.0, 24.0)  # a sparse model's mean sessions a day, log-uniform
SESSION_REQUESTS = 6.0  # mean requests in a session (1 + Geometric)
THINK_SECONDS = 20.0  # mean gap between two requests of a session
NIGHT = 0.15  # the trough's rate as a share of the peak's
PEAK_HOUR = 14.0
SHIFT_HOURS = 3.0


@dataclass(frozen=True)
class ModelTrace:
    """One model's day: its requests (``trace``), whether it is one of the busy ones, and when each session's
    first request arrives (``trace.bursts``; for a busy model, none)."""

    name: str
    busy: bool
    trace: Trace


def diurnal(seconds: np.ndarray, shift_hours: float) -> np.ndarray:
    """The share of the peak rate at each second: 1 at PEAK_HOUR + shift, NIGHT twelve hours away."""
    phase = 2 * np.pi * (seconds / HOUR - PEAK_HOUR - shift_hours) / 24
    return NIGHT + (1 - NIGHT) * (1 + np.cos(phase)) / 2


def session_arrivals(starts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each session's requests: the first at its start, then 1 + Geometric - 1 more, Exponential gaps."""
    times = []
    for start in starts:
        count = int(rng.geometric(1 / SESSION_REQUESTS))
        gaps = rng.exponential(THINK_SECONDS, count - 1)
        times.append(start + np.concatenate([[0.0], np.cumsum(gaps)]))
    arrivals = np.concatenate(times) if times else np.zeros(0)
    return np.sort(arrivals[arrivals < DAY])


def model_trace(seed: int, index: int) -> ModelTrace:
    rng = np.random.default_rng([27, seed, index])
    seconds = np.arange(DAY, dtype=float)
    shape = diurnal(seconds, rng.uniform(-SHIFT_HOURS, SHIFT_HOURS))
    busy = index < BUSY
    name = f"model-{index:02d}"
    if busy:
        peak = float(np.exp(rng.uniform(*np.log(BUSY_PEAK))))
        rate = peak * shape
        counts = rng.poisson(rate)
        arrivals = np.sort(np.repeat(seconds, counts) + rng.uniform(0, 1, int(counts.sum())))
        starts: tuple[float, ...] = ()
        description = f"busy: Poisson, peak {peak:.2f} req/s, diurnal"
    else:
        per_day = float(np.exp(rng.uniform(*np.log(SESSIONS_PER_DAY))))
        session_rate = per_day / DAY * shape / shape.mean()  # sessions per second, a mean of per_day a day
        counts = rng.poisson(session_rate)
        session_starts = np.sort(np.repeat(seconds, counts) + rng.uniform(0, 1, int(counts.sum())))
        arrivals = session_arrivals(session_starts, rng)
        rate = session_rate * SESSION_REQUESTS
        starts = tuple(float(s) for s in session_starts)
        description = f"sparse: {per_day:.1f} sessions a day (mean), {SESSION_REQUESTS:g} requests each, diurnal"
    prompt, output = lengths(len(arrivals), CHAT, rng)
    return ModelTrace(name, busy, Trace(name, description, float(DAY), rate, arrivals, prompt, output, starts))


def sparse(seed: int, models: int = MODELS) -> list[ModelTrace]:
    """The day's traces of ``models`` models (the first ``BUSY`` busy), seeded by ``seed``."""
    return [model_trace(seed, i) for i in range(models)]
