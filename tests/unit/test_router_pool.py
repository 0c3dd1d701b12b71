"""The router's pool: fewest in flight, the bounded hold, replicas that leave, prefix affinity's bound."""

from __future__ import annotations

import asyncio

import pytest

from modelfleet.runtime.router.affinity import bounded_load
from modelfleet.runtime.router.metrics import RouterMetrics
from modelfleet.runtime.router.pool import HoldTimeout, Pool, QueueFull


def pool(*addrs: str, max_held: int = 10, max_hold: float = 3600, bound: float = 1.25) -> tuple[Pool, RouterMetrics]:
    metrics = RouterMetrics()
    p = Pool(metrics, max_held, max_hold, bound)
    p.update(list(addrs))
    return p, metrics


def sample(metrics: RouterMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def until(cond) -> None:
    """A rendezvous with another task (never a timing claim): yield until it has run far enough."""
    while not cond():
        await asyncio.sleep(0)


def test_fewest_in_flight_spreads_and_fills_the_idle_replica_first():
    async def go():
        p, _ = pool("a:1", "b:1", "c:1")
        leases = [await p.acquire("") for _ in range(6)]
        assert p.snapshot() == {"a:1": 2, "b:1": 2, "c:1": 2}
        for lease in leases:
            if lease.addr == "b:1":
                lease.release()
        assert [(await p.acquire("")).addr for _ in range(2)] == ["b:1", "b:1"]

    asyncio.run(go())


def test_a_lease_released_twice_counts_once():
    async def go():
        p, _ = pool("a:1")
        lease = await p.acquire("")
        lease.release()
        lease.release()
        assert p.snapshot() == {"a:1": 0}

    asyncio.run(go())


def test_a_held_request_goes_to_the_first_replica_that_turns_ready():
    async def go():
        p, metrics = pool()
        task = asyncio.create_task(p.acquire(""))
        await until(lambda: p.held == 1)
        assert sample(metrics, "modelfleet_router_held_requests") == 1
        p.update(["a:1"])
        assert (await task).addr == "a:1"
        assert sample(metrics, "modelfleet_router_held_requests") == 0
        assert sample(metrics, "modelfleet_router_hold_seconds_count") == 1

    asyncio.run(go())


def test_the_hold_queue_is_bounded():
    async def go():
        p, _ = pool(max_held=1)
        first = asyncio.create_task(p.acquire(""))
        await until(lambda: p.held == 1)
        with pytest.raises(QueueFull):
            await p.acquire("")
        first.cancel()

    asyncio.run(go())


def test_the_hold_is_bounded_and_a_refused_request_leaves_the_queue():
    async def go():
        p, _ = pool(max_hold=0)
        with pytest.raises(HoldTimeout):
            await p.acquire("")
        assert p.held == 0

    asyncio.run(go())


def test_a_client_that_goes_away_leaves_the_queue():
    async def go():
        p, _ = pool()
        task = asyncio.create_task(p.acquire(""))
        await until(lambda: p.held == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert p.held == 0

    asyncio.run(go())


def test_a_departed_replica_finishes_its_requests_and_takes_no_more():
    async def go():
        p, metrics = pool("a:1", "b:1")
        on_a = None
        while on_a is None:
            lease = await p.acquire("")
            on_a = lease if lease.addr == "a:1" else None
        p.update(["b:1"])
        assert {(await p.acquire("")).addr for _ in range(5)} == {"b:1"}
        assert sample(metrics, "modelfleet_router_in_flight", replica="a:1") == 1  # still draining
        on_a.release()
        assert sample(metrics, "modelfleet_router_in_flight", replica="a:1") is None  # series forgotten

    asyncio.run(go())


def test_a_removed_replica_comes_back_with_the_next_update():
    async def go():
        p, _ = pool("a:1", "b:1")
        p.remove("a:1")
        assert list(p.snapshot()) == ["b:1"]
        p.update(["a:1", "b:1"])
        assert list(p.snapshot()) == ["a:1", "b:1"]

    asyncio.run(go())


def test_the_same_prefix_goes_to_the_same_replica():
    async def go():
        p, _ = pool("a:1", "b:1", "c:1", "d:1")
        for k in range(50):
            first = await p.acquire(f"system prompt {k}")
            first.release()
            again = await p.acquire(f"system prompt {k}")
            again.release()
            assert first.addr == again.addr

    asyncio.run(go())


def test_prefixes_spread_over_the_replicas():
    async def go():
        p, _ = pool("a:1", "b:1", "c:1", "d:1")
        count: dict[str, int] = {}
        for k in range(4000):
            lease = await p.acquire(f"conversation {k}")
            count[lease.addr] = count.get(lease.addr, 0) + 1
            lease.release()
        assert all(500 < n < 1500 for n in count.values()), count  # about a quarter each

    asyncio.run(go())


def test_a_hot_prefix_spills_over_at_the_load_bound():
    async def go():
        p, _ = pool("a:1", "b:1", "c:1", "d:1", bound=1.25)
        for total in range(1, 101):
            await p.acquire("the same system prompt")
            loads = p.snapshot()
            assert max(loads.values()) <= bounded_load(total - 1, 4, 1.25), loads
        assert min(p.snapshot().values()) > 0

    asyncio.run(go())


@pytest.mark.parametrize("total", range(0, 200, 7))
@pytest.mark.parametrize("replicas", [1, 2, 3, 8, 19])
def test_the_bound_leaves_the_least_loaded_a_slot(total, replicas):
    assert bounded_load(total, replicas, 1.0) * replicas >= total + 1


def test_a_wake_records_how_long_the_first_held_request_waited():
    """The oldest held request's wait, once a replica takes the held requests; later requests (a replica is
    ready) and a second held request leave it as it is."""
    async def go():
        p, metrics = pool()
        first = asyncio.create_task(p.acquire(""))
        await until(lambda: p.held == 1)
        await asyncio.sleep(0.05)  # the first request waits at least this long
        second = asyncio.create_task(p.acquire(""))
        await until(lambda: p.held == 2)
        assert sample(metrics, "modelfleet_router_wakes_total") == 0
        p.update(["a:1"])
        await first
        await second
        waited = sample(metrics, "modelfleet_router_last_wake_wait_seconds")
        assert waited is not None and waited >= 0.05
        assert sample(metrics, "modelfleet_router_wakes_total") == 1
        assert sample(metrics, "modelfleet_router_last_wake_timestamp_seconds") > 0
        await p.acquire("")  # served at once: no wait, no wake
        assert sample(metrics, "modelfleet_router_wakes_total") == 1

    asyncio.run(go())


def test_a_wait_that_ends_without_a_replica_is_no_wake():
    async def go():
        p, metrics = pool(max_hold=0.01)
        with pytest.raises(HoldTimeout):
            await p.acquire("")
        assert sample(metrics, "modelfleet_router_wakes_total") == 0
        assert sample(metrics, "modelfleet_router_last_wake_wait_seconds") == 0
        task = asyncio.create_task(p.acquire(""))  # a new wait starts from its own request
        await until(lambda: p.held == 1)
        p.update(["a:1"])
        await task
        assert sample(metrics, "modelfleet_router_wakes_total") == 1

    asyncio.run(go())
