"""Start, find and stop the control-plane processes through pid files.

Processes run in their own session so they outlive `make cluster-up` and a
pytest run. We only ever signal a pid from our own pid file, and only while
its command line is still the binary we started (pids get reused).
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import time

# Popen objects of the processes this Python process started: kept so they
# are not garbage-collected while running (ResourceWarning) and so stop() can
# reap them.
_children: dict[int, subprocess.Popen[bytes]] = {}


def _pidfile(state: pathlib.Path, name: str) -> pathlib.Path:
    return state / "run" / f"{name}.pid"


def pid_of(state: pathlib.Path, name: str, binary: str) -> int | None:
    """The pid of our running `name`, or None."""
    try:
        pid = int(_pidfile(state, name).read_text())
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        argv0 = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    comm, state_letter = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()[0]
    if state_letter == "Z":  # a zombie is as good as gone
        return None
    # Right after exec the kernel may show an empty cmdline: then trust comm
    # (the binary's name cut to 15 characters).
    if argv0 != binary and not (argv0 == "" and comm == pathlib.Path(binary).name[:15]):
        return None
    return pid


def start(state: pathlib.Path, name: str, argv: list[str]) -> int:
    log = state / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _pidfile(state, name).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    _pidfile(state, name).write_text(str(proc.pid))
    _children[proc.pid] = proc
    return proc.pid


def stop(state: pathlib.Path, name: str, binary: str, timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if it was running."""
    pid = pid_of(state, name, binary)
    if pid is None:
        _pidfile(state, name).unlink(missing_ok=True)
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_of(state, name, binary) is not None:
        if time.monotonic() > deadline:
            _signal(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.1)
        _reap(pid)
    _reap(pid)
    _pidfile(state, name).unlink(missing_ok=True)
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # When this Python process started it, collect its exit status.
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets `pid` listens on, from /proc."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = cols[1].split(":")
            found.add((_decode_addr(addr_hex, v6), int(port_hex, 16)))
    return found


def _decode_addr(hexaddr: str, v6: bool) -> str:
    import ipaddress
    raw = bytes.fromhex(hexaddr)
    # /proc prints each 32-bit word in host (little-endian) byte order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.IPv6Address(raw) if v6 else ipaddress.IPv4Address(raw))
