"""The router's own tests (``router/``, Go): ``go vet`` and ``go test -race`` through ``router/go.sh``.

The router is a Go program (docs/decisions.md, "Router"), so its tests are Go tests; this file makes them
part of ``make test`` (pytest collects ``tests``). A tier of its own, like ``tests/argocd``, because the
unit tier builds nothing in Go. No Go: the tests fail, they do not skip. The first run downloads the
router's modules (Prometheus' client) from the Go module proxy into $MODELFLEET_CACHE/go and builds
them (about a minute on two shared cores); a rerun takes seconds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

GO_SH = Path(__file__).resolve().parents[2] / "router" / "go.sh"
TIMEOUT_S = 20 * 60

pytestmark = pytest.mark.router


def go(*args: str, cgo: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CGO_ENABLED": "1" if cgo else "0"}
    try:
        return subprocess.run(["nice", "-n", "10", "bash", str(GO_SH), *args], capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"router/go.sh {' '.join(args)} did not finish in {TIMEOUT_S} s: {e.stderr!r}")


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_go_vet_is_clean():
    proc = go("vet", "./...")
    assert proc.returncode == 0, f"go vet:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_go_tests_pass_under_the_race_detector():
    # -race needs cgo; where there is no C compiler, the tests run without it rather than not at all.
    proc = go("test", "-count=1", "-race", "./...", cgo=True)
    if proc.returncode != 0 and ("cgo" in proc.stderr or "C compiler" in proc.stderr):
        proc = go("test", "-count=1", "./...")
    assert proc.returncode == 0, f"go test:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert "ok  \tgithub.com/modelfleet/modelfleet/router" in proc.stdout, proc.stdout


def test_gofmt_leaves_the_sources_as_they_are():
    proc = subprocess.run(["bash", "-c", f'PATH="$PATH:/usr/local/go/bin"; gofmt -l "{GO_SH.parent}"'],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout == "", f"gofmt would change:\n{proc.stdout}{proc.stderr}"
