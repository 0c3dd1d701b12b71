"""`make cluster-down` empties the real node's cgroups even while the kernel removes them under it
(e2e/local/localcluster/node_cgroups.py: down). CI once died here: a cgroup runc removed between
the walk and the read answered ENODEV, and the traceback ended `make cluster-down`."""

from __future__ import annotations

import errno
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "e2e" / "local"))

from localcluster import node_cgroups  # noqa: E402  (lives in e2e/local, not an installed package)


@pytest.fixture
def cgroup_fs(tmp_path, monkeypatch) -> pathlib.Path:
    """A v1 hierarchy holding the node's cgroup root with one pod cgroup beneath it."""
    pod = tmp_path / "memory" / node_cgroups.CGROUP_ROOT / "pod-a"
    pod.mkdir(parents=True)
    (pod / "cgroup.procs").write_text("4242\n")
    (pod.parent / "cgroup.procs").write_text("")
    monkeypatch.setattr(node_cgroups, "CGROUP_FS", tmp_path)
    return tmp_path


@pytest.mark.parametrize("gone", [errno.ENODEV, errno.ENOENT])
def test_a_cgroup_that_vanishes_mid_walk_is_passed_over(cgroup_fs, monkeypatch, gone):
    killed: list[int] = []
    monkeypatch.setattr(node_cgroups, "_kill", killed.append)
    real_read = pathlib.Path.read_text

    def read_text(path: pathlib.Path, *args, **kwargs) -> str:
        if path.parent.name == "pod-a":
            raise OSError(gone, "removed while we walked")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    node_cgroups.down()  # must not raise
    assert killed == []


def test_the_processes_left_in_a_cgroup_are_killed(cgroup_fs, monkeypatch):
    killed: list[int] = []
    monkeypatch.setattr(node_cgroups, "_kill", killed.append)
    node_cgroups.down()
    assert killed == [4242]
