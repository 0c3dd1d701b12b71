"""The ready replicas, their requests in flight, and the requests held while there are none.

Everything here runs on the event loop's one thread, so plain attributes need no lock: a pick is a few
comparisons between awaits.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .affinity import HashRing, bounded_load
from .metrics import RouterMetrics


class QueueFull(Exception):
    """As many requests are held as the router may hold (429)."""


class HoldTimeout(Exception):
    """No replica became ready within the longest hold (503)."""


@dataclass
class Replica:
    """One engine pod's address. It leaves the ready set when its DNS record goes; its requests in
    flight go on (the engine pod finishes them before it exits): leases keep it until the last ends."""

    addr: str
    in_flight: int = 0
    gone: bool = False


class Lease:
    """One request's hold on a replica; ``release`` once its response is over (twice is harmless)."""

    def __init__(self, pool: Pool, replica: Replica) -> None:
        self._pool, self.replica, self._released = pool, replica, False

    @property
    def addr(self) -> str:
        return self.replica.addr

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self.replica)


class Pool:
    def __init__(self, metrics: RouterMetrics, max_held: int, max_hold_seconds: float, load_bound: float) -> None:
        self._metrics = metrics
        self._max_held, self._max_hold, self._load_bound = max_held, max_hold_seconds, load_bound
        self._ready: dict[str, Replica] = {}
        self._order: list[Replica] = []  # by address: picks do not depend on dict order
        self._ring = HashRing([])
        self._changed = asyncio.Event()  # set (and replaced) when the ready set changes: wakes held requests
        self._total = 0  # requests in flight on ready replicas, for the affinity's load bound
        self._rotation = 0  # where ties start, so equal replicas share the load
        self.held = 0
        self._held_since: float | None = None  # when the oldest request now held found no replica

    def update(self, addrs: list[str]) -> None:
        """Make the ready set ``addrs`` (from DNS). Departed replicas take no new request."""
        if set(addrs) == self._ready.keys():
            return
        for addr, replica in self._ready.items():
            if addr not in addrs:
                replica.gone = True
                self._total -= replica.in_flight
        self._ready = {a: self._ready.get(a) or Replica(a) for a in addrs}
        for replica in self._order:
            if replica.gone:
                self._forget_if_idle(replica)
        self._order = sorted(self._ready.values(), key=lambda r: r.addr)
        self._ring = HashRing([r.addr for r in self._order])
        self._metrics.ready_replicas.set(len(self._order))
        self._changed.set()
        self._changed = asyncio.Event()

    def remove(self, addr: str) -> None:
        """Take a replica whose connection was refused out of the ready set, until the next ``update``."""
        self.update([a for a in self._ready if a != addr])

    async def acquire(self, key: str) -> Lease:
        """A lease on a replica: at once if one is ready, else once one is, holding the request meanwhile
        (at most ``max_held`` at once, each at most ``max_hold`` seconds). ``key`` is the affinity key
        (``""``: fewest in flight). Cancelled when the client goes away."""
        replica = self._pick(key)
        if replica is not None:
            return Lease(self, replica)
        if self.held >= self._max_held:
            raise QueueFull
        self.held += 1
        self._metrics.held.inc()
        start = time.monotonic()
        if self._held_since is None:
            self._held_since = start
        try:
            async with asyncio.timeout(self._max_hold):
                while (replica := self._pick(key)) is None:
                    await self._changed.wait()
            self._end_wait()
            return Lease(self, replica)
        except TimeoutError:
            raise HoldTimeout from None
        finally:
            self.held -= 1
            self._metrics.held.dec()
            self._metrics.hold_seconds.observe(time.monotonic() - start)
            if self.held == 0:
                self._held_since = None  # every held request is gone (routed, refused or cancelled)

    def _end_wait(self) -> None:
        """The first held request to get a replica ends the wait: its length is the oldest request's hold
        (a fleet woken from zero: how long the first request waited)."""
        if self._held_since is None:
            return
        self._metrics.last_wake_wait.set(time.monotonic() - self._held_since)
        self._metrics.last_wake_time.set(time.time())
        self._metrics.wakes.inc()
        self._held_since = None

    def snapshot(self) -> dict[str, int]:
        """Each ready replica's requests in flight (tests)."""
        return {r.addr: r.in_flight for r in self._order}

    def _pick(self, key: str) -> Replica | None:
        if not self._order:
            return None
        if key:
            bound = bounded_load(self._total, len(self._order), self._load_bound)
            addr = self._ring.pick(key, lambda a: self._ready[a].in_flight + 1 <= bound)
            replica = self._ready[addr] if addr else self._least_in_flight()
        else:
            replica = self._least_in_flight()
        replica.in_flight += 1
        self._total += 1
        self._metrics.in_flight.labels(replica.addr).set(replica.in_flight)
        self._metrics.routed.labels(replica.addr).inc()
        return replica

    def _least_in_flight(self) -> Replica:
        self._rotation += 1
        n = len(self._order)
        return min((self._order[(self._rotation + i) % n] for i in range(n)), key=lambda r: r.in_flight)

    def _release(self, replica: Replica) -> None:
        replica.in_flight -= 1
        if replica.gone:
            self._forget_if_idle(replica)
            return
        self._total -= 1
        self._metrics.in_flight.labels(replica.addr).set(replica.in_flight)

    def _forget_if_idle(self, replica: Replica) -> None:
        """Drop a departed replica's series once its last request is over, so pods that come and go do
        not pile up label values (unless its address is ready again, as a new replica)."""
        if replica.addr in self._ready:
            return
        if replica.in_flight > 0:
            self._metrics.in_flight.labels(replica.addr).set(replica.in_flight)
            return
        self._metrics.forget(replica.addr)
