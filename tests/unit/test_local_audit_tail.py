"""Following the local API server's audit log across a rotation (e2e/local)."""

from __future__ import annotations

import json

from localcluster import audit


def line(n: int) -> str:
    return json.dumps({"auditID": str(n)}) + "\n"


def test_the_tail_sees_what_follows_it_across_a_rotation_and_waits_for_whole_lines(tmp_path, monkeypatch):
    log = tmp_path / "audit.log"
    monkeypatch.setattr(audit, "log_path", lambda: log)
    log.write_text(line(0))
    tail = audit.AuditTail()
    with log.open("a") as f:
        f.write(line(1) + '{"auditID": "2"')  # the API server is mid-line
    assert [e["auditID"] for e in tail.poll()] == ["1"]
    with log.open("a") as f:
        f.write("}\n")
    log.rename(tmp_path / "audit-2026-11-23T07-25-09.777.log")  # rotation: the old file is renamed
    log.write_text(line(3))
    assert [e["auditID"] for e in tail.poll()] == ["1", "2", "3"]
