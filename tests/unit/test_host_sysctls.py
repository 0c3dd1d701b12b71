"""The host sysctls the local cluster and the local kind cluster share (e2e/local/localcluster/hostsysctls.py):
whatever order the two come and go in, neither loses a value while it runs, and the host ends as it began."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e" / "local"))

from localcluster import hostsysctls  # noqa: E402  (lives in e2e/local, not an installed package)

LOCAL = {"net.ipv4.ip_forward": "1", "kernel.panic": "10", "net.bridge.bridge-nf-call-iptables": "1"}
KIND = {"net.ipv4.ip_forward": "1", "kernel.panic": "10", "vm.overcommit_memory": "1"}
ORIGINAL = {"net.ipv4.ip_forward": "0", "kernel.panic": "1", "net.bridge.bridge-nf-call-iptables": "0",
            "vm.overcommit_memory": "0"}


@pytest.fixture
def proc(tmp_path, monkeypatch) -> Path:
    """A /proc/sys of files, and the record beside it."""
    root = tmp_path / "proc-sys"
    for key, value in ORIGINAL.items():
        path = root / key.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    monkeypatch.setattr(hostsysctls, "_path", lambda key: root / key.replace(".", "/"))
    monkeypatch.setattr(hostsysctls, "record_path", lambda: tmp_path / "host" / "sysctls.json")
    return root


def witness(holder: str) -> Path:
    return hostsysctls.record_path().parent / f"{holder}-is-up"


def up(holder: str, values: dict[str, str]) -> None:
    witness(holder).parent.mkdir(parents=True, exist_ok=True)
    witness(holder).touch()
    hostsysctls.hold(holder, witness(holder), values)
    for key, value in values.items():  # what the cluster (its kubelet, netavark) then writes
        hostsysctls._path(key).write_text(value)


def current() -> dict[str, str]:
    return {key: hostsysctls.read(key) for key in ORIGINAL}


@pytest.mark.parametrize("ups,downs", list(itertools.product(itertools.permutations(["local", "kind"]), repeat=2)))
def test_any_order_of_ups_and_downs_keeps_each_value_while_held_and_ends_as_it_began(proc, ups, downs):
    values = {"local": LOCAL, "kind": KIND}
    for holder in ups:
        up(holder, values[holder])
    first, last = downs
    hostsysctls.release(first)
    # The one still up keeps every value it set.
    assert {key: current()[key] for key in values[last]} == values[last]
    # What only the one gone had changed is back already.
    for key in values[first].keys() - values[last].keys():
        assert current()[key] == ORIGINAL[key]
    assert set(hostsysctls.held_by_others(first)) == set(values[last])
    hostsysctls.release(last)
    assert current() == ORIGINAL
    assert not hostsysctls.record_path().exists()


def test_holding_again_keeps_the_first_value_and_releasing_twice_is_harmless(proc):
    up("local", LOCAL)
    up("local", LOCAL)  # an idempotent up, with the values already set
    assert hostsysctls.release("local") == {key: ORIGINAL[key] for key in LOCAL}
    assert hostsysctls.release("local") == {}
    assert current() == ORIGINAL


def test_a_holder_gone_without_releasing_counts_no_more(proc):
    up("local", LOCAL)
    witness("local").unlink()  # its state wiped without a down: its values stay on the host
    up("kind", KIND)
    assert hostsysctls.held_by_others("kind") == {}
    hostsysctls.release("kind")
    assert current() == ORIGINAL  # the values found first, by the holder gone since
