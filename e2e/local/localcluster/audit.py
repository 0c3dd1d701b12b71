"""The local API server's audit log (what it records: e2e/local/audit-policy.yaml)."""

from __future__ import annotations

import json
import pathlib

from . import settings


def log_path() -> pathlib.Path:
    return settings.state_dir() / "logs" / "audit.log"


def events(skip_lines: int = 0) -> list[dict]:
    """Every complete event after the first ``skip_lines`` lines.

    The API server appends while we read: a last line without its newline is
    still being written and is left for the next read.
    """
    text = log_path().read_text()
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        lines = lines[:-1]
    return [json.loads(line) for line in lines[skip_lines:] if line.strip()]


def line_count() -> int:
    return log_path().read_text().count("\n")
