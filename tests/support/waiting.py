"""Polling for conditions in tests against live components."""

from __future__ import annotations

import time


def wait_for(what: str, check, timeout: float = 60.0, interval: float = 0.5):
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
