"""The local API server's audit log (what it records: e2e/local/audit-policy.yaml).

The log rotates at 200 MB (``components.py``), so readers follow it by file
identity and byte offset, not by line numbers: ``AuditTail`` returns every
event written since it was created, across a rotation.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from . import settings


def log_path() -> pathlib.Path:
    return settings.state_dir() / "logs" / "audit.log"


class AuditTail:
    """The events appended to the audit log since this object was created."""

    def __init__(self) -> None:
        status = os.stat(log_path())
        self._inode, self._offset = status.st_ino, status.st_size
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """Every complete event so far; a line the API server is still writing waits for the next poll."""
        path = log_path()
        inode = os.stat(path).st_ino
        if inode != self._inode:  # rotated: finish the old file (renamed beside it), then start the new one
            rotated = next((p for p in path.parent.glob("audit-*.log") if p.stat().st_ino == self._inode), None)
            if rotated is not None:
                self._read(rotated)
            self._inode, self._offset = inode, 0
        self._read(path)
        return self.events

    def _read(self, path: pathlib.Path) -> None:
        with path.open("rb") as log:
            log.seek(self._offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.events.extend(json.loads(line) for line in complete.splitlines() if line.strip())
        self._offset += len(complete)
