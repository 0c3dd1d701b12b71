"""The ready replicas from a headless Service's DNS A records.

Kubernetes publishes only ready pods there (``publishNotReadyAddresses: false``), so the router needs no
access to the API server: DNS is its whole view of the fleet. CoreDNS answers with a TTL of 5 s by
default, so a pod that turns unready may still be named for a few seconds: the relay takes a replica
that refuses connections out until the next read.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from .metrics import RouterMetrics
from .pool import Pool

log = logging.getLogger(__name__)

# getaddrinfo's answers for a name with no records: a headless Service with no ready pod.
NOT_FOUND = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}

Resolve = Callable[[str], Awaitable[list[str]]]


async def resolve_a_records(host: str) -> list[str]:
    """The IPv4 addresses of ``host``, through the system resolver (as the pod's resolv.conf says)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def refresh(resolve: Resolve, host: str, port: int, pool: Pool, metrics: RouterMetrics) -> None:
    """Read the records once. No records is a fleet with no ready replica; any other failure keeps the last
    set, so a DNS hiccup does not empty the fleet and start holding every request."""
    try:
        ips = await resolve(host)
    except socket.gaierror as exc:
        if exc.errno not in NOT_FOUND:
            metrics.discovery_errors.inc()
            log.warning("reading %s's A records failed, keeping the last set: %s", host, exc)
            return
        ips = []
    except OSError as exc:
        metrics.discovery_errors.inc()
        log.warning("reading %s's A records failed, keeping the last set: %s", host, exc)
        return
    pool.update([f"{ip}:{port}" for ip in ips])


async def discover(resolve: Resolve, host: str, port: int, every: float, pool: Pool, metrics: RouterMetrics) -> None:
    """Keep the pool equal to the records, read every ``every`` seconds, until cancelled."""
    while True:
        try:
            async with asyncio.timeout(every * 5):
                await refresh(resolve, host, port, pool, metrics)
        except TimeoutError:
            metrics.discovery_errors.inc()
            log.warning("reading %s's A records timed out, keeping the last set", host)
        await asyncio.sleep(every)


async def keep_static(addrs: list[str], every: float, pool: Pool) -> None:
    """A fixed list, given again at every refresh (a replica that refused a connection comes back)."""
    while True:
        pool.update(addrs)
        await asyncio.sleep(every)
