"""Download progress for ``kubectl logs``: one plain line every few seconds, never a redrawn bar.

A line reads ``42.0% (39.20 of 93.30 GB), 512.4 MB/s, ETA 1m46s``: the share
of the selected files' bytes on disk (what an earlier run left counts), the
rate over the last interval, and the time left at the average rate of this run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MB = 1e6
GB = 1e9


@dataclass(frozen=True)
class Snapshot:
    done: int  # bytes of the selected files on disk
    total: int  # bytes of the selected files, as the Hub lists them
    fetched: int  # bytes this run received
    elapsed_s: float  # since this run started fetching


class Progress:
    """Bytes of the files to pull, counted by the threads that fetch them."""

    def __init__(self, total: int, present: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._done = present
        self._fetched = 0
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()

    def fetched(self, count: int) -> None:
        with self._lock:
            self._done += count
            self._fetched += count

    def resumed(self, count: int) -> None:
        """Bytes of a partial file an earlier run left: on disk, not fetched now."""
        with self._lock:
            self._done += count

    def discarded(self, count: int) -> None:
        """Bytes thrown away (the server ignored a range request and sends the file from the start)."""
        with self._lock:
            self._done -= count

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._done, self.total, self._fetched, self._clock() - self._started)


def progress_line(previous: Snapshot, current: Snapshot) -> str:
    percent = 100.0 * current.done / current.total if current.total else 100.0
    interval = current.elapsed_s - previous.elapsed_s
    rate = (current.fetched - previous.fetched) / interval if interval > 0 else 0.0
    average = current.fetched / current.elapsed_s if current.elapsed_s > 0 else 0.0
    eta = (current.total - current.done) / average if average > 0 else None
    unit, scale = ("GB", GB) if current.total >= GB else ("MB", MB)
    return (
        f"{percent:.1f}% ({current.done / scale:.2f} of {current.total / scale:.2f} {unit}), "
        f"{rate / MB:.1f} MB/s, ETA {duration(eta)}"
    )


def size_text(count: int) -> str:
    return f"{count / GB:.2f} GB" if count >= GB else f"{count / MB:.2f} MB"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Reporter:
    """Logs a progress line every ``interval_s`` while the block it guards runs."""

    def __init__(self, progress: Progress, interval_s: float, log: Callable[[str], None]) -> None:
        self._progress = progress
        self._interval_s = interval_s
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prepull-progress", daemon=True)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        previous = self._progress.snapshot()
        while not self._stop.wait(self._interval_s):
            current = self._progress.snapshot()
            self._log(progress_line(previous, current))
            previous = current
