"""Bounded retries with exponential backoff for calls to the Hub.

Only failures that may pass are retried: the network (connection refused,
reset, timed out, cut mid-body), the Hub's 5xx, 408 and 429. A gated repo,
a missing revision or a full disk fail at once: retrying cannot fix them.
After the last attempt the error is ``HubUnavailable``, naming the cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx2
from huggingface_hub.errors import LocalEntryNotFoundError

from modelfleet.catalog.hub_errors import causes, status_of

from .errors import HubUnavailable

T = TypeVar("T")
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ShortBody(Exception):
    """A download ended early without a network error; the next attempt resumes it."""


@dataclass(frozen=True)
class Backoff:
    attempts: int = 6
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1-based): 2, 4, 8, ... capped."""
        return min(self.first_delay_s * 2.0 ** (failures - 1), self.max_delay_s)


def is_transient(exc: BaseException) -> bool:
    for cause in causes(exc):
        if isinstance(cause, (httpx2.TransportError, ShortBody)):
            return True
        if status_of(cause) in RETRIED_STATUSES:
            return True
    return False


def describe(exc: BaseException) -> str:
    """One line about an error: HTTP status and first line of the message, never headers."""
    if isinstance(exc, LocalEntryNotFoundError) and exc.__cause__ is not None:
        return describe(exc.__cause__)  # the Hub client hides the real cause behind a cache miss
    status = status_of(exc)
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    prefix = f"HTTP {status}: " if status else ""
    return f"{prefix}{type(exc).__name__}: {first}".rstrip(": ")


def with_retries(
    operation: Callable[[], T],
    *,
    what: str,
    backoff: Backoff,
    log: Callable[[str], None],
    progress: Callable[[], int] = lambda: 0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``; retry transient failures, at most ``backoff.attempts`` in a row.

    A failed attempt that still moved ``progress`` forward (bytes of a resumed
    download) does not count: a link that keeps breaking but keeps delivering
    finishes the file rather than giving up on it.
    """
    failures = 0
    seen = progress()
    started = time.monotonic()
    while True:
        try:
            return operation()
        except Exception as exc:
            if not is_transient(exc):
                raise
            now = progress()
            failures = 1 if now > seen else failures + 1
            seen = now
            if failures >= backoff.attempts:
                raise HubUnavailable(
                    f"the Hub kept failing while {what}: {failures} attempts in a row over "
                    f"{time.monotonic() - started:.0f} s; last error: {describe(exc)}"
                ) from exc
            delay = backoff.delay(failures)
            log(f"{what}: {describe(exc)}; attempt {failures} of {backoff.attempts}, retrying in {delay:g} s")
            sleep(delay)
