"""Every tier's share of a `make test` run, printed at its end (and written where
MODELFLEET_TIER_TIMES points, for `.ci/run`'s phase table in docs/ci.md): setup, call and
teardown of each test, so a cluster start counts in the tier that waited for it. `make test`
runs two sessions, the local cluster's and kind's (MODELFLEET_TIER_PREFIX="kind: "); the
second adds its tiers to the file."""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

TIER_SECONDS: defaultdict[str, float] = defaultdict(float)
# What tests measured and want in the run's log (record_property("measured", (title, value))), printed at
# the end of the session, where CI's record of the run shows it, not in the middle of the output.
MEASURED: list[tuple[str, object]] = []


def tier_of(report: pytest.TestReport) -> str:
    # A run against another cluster names its own tiers (e2e/kind/run.sh: "kind: ").
    prefix = os.environ.get("MODELFLEET_TIER_PREFIX", "")
    if "realnode" in report.keywords:
        return f"{prefix}real node (e2e/suite/test_real_node.py)"
    parts = report.nodeid.split("/")
    return prefix + ("/".join(parts[:2]) if len(parts) > 2 else parts[0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    TIER_SECONDS[tier_of(report)] += report.duration
    if report.when == "teardown":  # each phase's report carries the test's properties: keep them once
        MEASURED.extend(value for name, value in report.user_properties if name == "measured")


def pytest_terminal_summary(terminalreporter) -> None:
    if MEASURED:
        terminalreporter.section("measured")
        for title, value in MEASURED:
            shown = value if isinstance(value, str) else json.dumps(value, indent=2)
            terminalreporter.write_line(f"{title}:\n{shown}")
    if not TIER_SECONDS:
        return
    terminalreporter.section("time by tier")
    for tier, seconds in sorted(TIER_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.0f} s  {tier}")
    if path := os.environ.get("MODELFLEET_TIER_TIMES"):
        # Added to what an earlier session of the same run wrote there (make test: pytest, then kind's).
        try:
            with open(path) as f:
                earlier = json.load(f)
        except (OSError, ValueError):
            earlier = {}
        with open(path, "w") as out:
            json.dump({**earlier, **{tier: round(seconds) for tier, seconds in TIER_SECONDS.items()}}, out, indent=2)
