"""The real node's cgroups, and the processes that outlive the node's own: the pods' (in our
cgroups, under ``CGROUP_ROOT`` in every v1 hierarchy, the kubelet's cgroupfs driver) and
containerd's runc shims (which outlive containerd itself).
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import signal

CGROUP_ROOT = "modelfleet-node"
CGROUP_FS = pathlib.Path("/sys/fs/cgroup")


def up() -> None:
    """The kubelet wants its cgroupRoot in every hierarchy before it starts."""
    for hierarchy in hierarchies():
        path = hierarchy / CGROUP_ROOT
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":  # a new cpuset starts empty: give it the parent's
            for f in ("cpuset.cpus", "cpuset.mems"):
                (path / f).write_text((hierarchy / f).read_text())


def hierarchies(unified: bool = False) -> list[pathlib.Path]:
    """The v1 hierarchies (and, to clean up, the v2 one a hybrid host mounts at `unified`)."""
    return [p for p in sorted(CGROUP_FS.iterdir())
            if p.is_dir() and not p.is_symlink() and (unified or p.name != "unified")]


def down() -> None:
    """Kill what is left in our cgroups, deepest first, and remove them."""
    for hierarchy in hierarchies(unified=True):
        root = hierarchy / CGROUP_ROOT
        if not root.exists():
            continue
        for dirpath, _, _ in sorted(os.walk(root), key=lambda entry: -entry[0].count("/")):
            for pid in _read_pids(pathlib.Path(dirpath)):
                _kill(pid)
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _read_pids(cgroup: pathlib.Path) -> list[int]:
    # A cgroup the kubelet or runc removes while we walk answers ENOENT, or
    # ENODEV once its hierarchy has let go of it: either way it holds nobody.
    try:
        return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def kill_shims(state: pathlib.Path) -> None:
    """The runc shims of the containerd whose state is under `state`, found by that path in their arguments."""
    root = str(state)
    for pid, args in command_lines():
        if args and args[0].endswith("containerd-shim-runc-v2") and root in " ".join(args):
            _kill(pid)


def command_lines() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process still readable in /proc."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found.append((int(proc.name), (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")))
            except OSError:
                continue
    return found
