"""Host sysctls that more than one test cluster on this machine changes, held and given back in any order.

The local cluster's real node (node.py) and the local kind cluster (e2e/kind/local/cluster.sh) both
change sysctls that are not per network namespace: their kubelets set ``vm.overcommit_memory``,
``kernel.panic`` and ``kernel.panic_on_oops``, and both need ``net.ipv4.ip_forward``. Each saving
the value it found and writing it back at its ``down`` is right only when they come and go nested
(the last up goes down first); otherwise the first down takes a value from under the other, and the
last down writes back what the other had set.

So each cluster *holds* the keys it changes before changing them: the first holder of a key records
the value it finds, the last one to release it writes that value back. Whatever the order of the two
``up``s and ``down``s, the host ends with the values it had before the first ``up``, and neither
cluster loses a value while it runs. The record is ``$MODELFLEET_CACHE/host/sysctls.json``, under a
lock (``fcntl.flock``) because the two may run at once. A holder names a witness, a file that exists
exactly while it is up (its picture of the host from ``up``): a hold whose witness is gone (a crash, a
state directory wiped by hand, an older checkout's ``down``) counts no more.

    hostsysctls.main(["hold", HOLDER, WITNESS, KEY, ...])  # record (first holder only), hold
    hostsysctls.main(["release", HOLDER])               # release; print the keys nobody holds, put back
    hostsysctls.main(["others", HOLDER])                # keys someone else holds, one a line
(e2e/kind/local/cluster.sh calls it so, from ``python3 -c``.)
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import pathlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from . import settings


def record_path() -> pathlib.Path:
    return settings.cache_dir() / "host" / "sysctls.json"


def _path(key: str) -> pathlib.Path:
    return pathlib.Path("/proc/sys") / key.replace(".", "/")


def read(key: str) -> str | None:
    path = _path(key)
    return path.read_text().strip() if path.exists() else None


@contextlib.contextmanager
def _record() -> Iterator[dict[str, dict[str, Any]]]:
    """The record, locked, written back when the block ends."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else ""
        record: dict[str, dict[str, Any]] = json.loads(text) if text.strip() else {}
        for entry in record.values():  # holds whose holder is no longer up
            entry["holders"] = {h: w for h, w in entry["holders"].items() if pathlib.Path(w).exists()}
        yield record
        if record:
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        else:
            path.unlink(missing_ok=True)


def hold(holder: str, witness: pathlib.Path, keys: Iterable[str]) -> None:
    """Hold ``keys`` for ``holder`` while ``witness`` exists; a key nobody holds gets its current value
    recorded, unless a holder gone meanwhile had recorded it (the value it found is the host's own)."""
    with _record() as record:
        for key in keys:
            value = read(key)
            if value is None:
                continue
            entry = record.setdefault(key, {"before": value, "holders": {}})
            entry["holders"][holder] = str(witness)


def release(holder: str) -> dict[str, str]:
    """Release what ``holder`` holds; every key nobody holds any more gets its recorded value back.
    Returns the keys written back, with their values."""
    restored = {}
    with _record() as record:
        for key in list(record):
            entry = record[key]
            entry["holders"].pop(holder, None)
            if not entry["holders"]:
                if read(key) != entry["before"]:
                    _path(key).write_text(entry["before"])
                restored[key] = entry["before"]
                del record[key]
    return restored


def held_by_others(holder: str) -> dict[str, str]:
    """Keys that another holder holds, with the value recorded before the first of them."""
    with _record() as record:
        return {key: entry["before"] for key, entry in record.items() if set(entry["holders"]) - {holder}}


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("hold", "release", "others"):
        print(__doc__, file=sys.stderr)
        return 2
    command, holder = argv[0], argv[1]
    if command == "hold":
        hold(holder, pathlib.Path(argv[2]), argv[3:])
    elif command == "release":
        for key, value in release(holder).items():
            print(f"{key}={value}")
    else:
        print("\n".join(held_by_others(holder)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
