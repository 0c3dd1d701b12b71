"""Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018).

A prompt prefix goes to the replica after its hash on a ring, so requests that share a system prompt or
a conversation meet the same engine's prefix cache; but no replica takes more than ceil(c x average)
requests in flight, so a popular prefix spills over to the next replicas on the ring instead of queueing
on one.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Sequence

# Points per replica: enough that each owns a near-equal share of the ring.
VIRTUAL_NODES = 128


def key_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def bounded_load(in_flight_total: int, replicas: int, c: float) -> int:
    """The most requests in flight a replica may have once it takes one more: ceil(c x (total + 1) / n).

    The least loaded replica always fits under it: it has at most the average.
    """
    return math.ceil(c * (in_flight_total + 1) / replicas)


class HashRing:
    """The ready replicas' points on the ring, by address."""

    def __init__(self, addrs: Sequence[str]) -> None:
        points = sorted((key_hash(f"{addr}#{v}"), addr) for addr in addrs for v in range(VIRTUAL_NODES))
        self._hashes = [h for h, _ in points]
        self._addrs = [a for _, a in points]

    def pick(self, key: str, fits: Callable[[str], bool]) -> str | None:
        """The first replica clockwise from the key's hash that ``fits`` (is under the load bound)."""
        if not self._addrs:
            return None
        start = bisect.bisect_left(self._hashes, key_hash(key))
        n = len(self._addrs)
        seen: set[str] = set()
        for i in range(n):
            addr = self._addrs[(start + i) % n]
            if addr in seen:
                continue
            if fits(addr):
                return addr
            seen.add(addr)
        return None
