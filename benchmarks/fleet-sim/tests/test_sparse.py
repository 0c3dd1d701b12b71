"""The sparse-trace pieces of the fleet simulator: the router's hold, the trace's seeding and shape, the KEDA HTTP
add-on-like peer's rules, and the idle-tick skipping (which must change nothing)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from fleet import FleetView, ReplicaView
from sparse_fleet import MAX_HOLD_SECONDS, HeldFleetView, HoldingFleet, KedaHttp, OursHeld, simulate_held
from sparse_traces import BUSY, DAY, HOUR, sparse
from traces import Trace

COLD = 60.0


def tiny_trace(arrivals: list[float], duration: float = 2 * HOUR, sessions: tuple[float, ...] = ()) -> Trace:
    n = len(arrivals)
    return Trace("tiny", "test", duration, np.zeros(int(duration)), np.asarray(arrivals, dtype=float),
                 np.full(n, 100), np.full(n, 20), sessions or (arrivals[0],))


class Recorder:
    """A policy that wakes ``wake`` replicas when requests are held and records what it was shown."""

    interval = 15.0
    family = knob = name = "recorder"

    def __init__(self, wake: int = 1):
        self.wake = wake
        self.seen: list[tuple[float, int, int]] = []  # (now, asked, held)

    def decide(self, view: FleetView) -> int:
        held = getattr(view, "held", 0)
        self.seen.append((view.now, view.asked, held))
        return max(view.asked, self.wake if held else 0)


def run(trace: Trace, policy, lag: float = 3.0, **kw):
    fleet = HoldingFleet(trace, policy, routing="least", cold_start=COLD, seed=0, min_replicas=0, release_lag=lag,
                         **kw)
    return fleet, fleet.outcome()


# --- the router's hold ----------------------------------------------------------------------------------------
def test_requests_at_zero_are_held_the_policy_sees_them_and_the_first_ready_replica_gets_them_after_the_lag():
    policy = Recorder()
    fleet, out = run(tiny_trace([10.2, 11.5, 12.7]), policy, lag=3.0)
    # The decision at 15 s sees the three held requests and wakes one replica; Ready at 75 s, seen at 78 s.
    assert (15.0, 0, 3) in policy.seen
    assert out.wakes == 1 and out.refused == 0
    admitted = fleet.trace.arrivals + out.result.waits
    assert np.all(admitted >= 15.0 + COLD + 3.0)
    assert out.first_waits == [pytest.approx(out.result.waits[0])]
    assert out.result.waits[0] >= 15.0 + COLD + 3.0 - 10.2


def test_the_held_count_is_zero_once_a_replica_serves():
    policy = Recorder()
    run(tiny_trace([10.2, 200.0]), policy)
    assert all(held == 0 for now, _, held in policy.seen if now > 100)


def test_a_request_held_longer_than_max_hold_seconds_is_refused_and_not_counted_as_a_wait():
    never = Recorder(wake=0)
    _, out = run(tiny_trace([5.0, 6.0, 400.0]), never)
    assert out.refused == 3
    assert np.isnan(out.result.waits).all()
    assert out.result.gpu_hours == 0.0


def test_past_max_held_requests_are_refused_at_once_and_the_rest_are_served():
    _, out = run(tiny_trace([1.0 + i / 10 for i in range(5)]), Recorder(), max_held=3)
    assert out.refused == 2
    assert np.isnan(out.result.waits).sum() == 2


def test_a_fleet_that_never_wakes_refuses_after_exactly_the_bound_not_before():
    fleet = HoldingFleet(tiny_trace([5.0]), Recorder(wake=0), routing="least", cold_start=COLD, seed=0,
                         min_replicas=0, release_lag=0.0)
    fleet.hold([0], 5.0)
    fleet.expire(5.0 + MAX_HOLD_SECONDS - 1)
    assert fleet.held() == 1
    fleet.expire(5.0 + MAX_HOLD_SECONDS)
    assert fleet.held() == 0 and fleet.refused == [0]


def test_a_minreplicas_one_fleet_holds_nothing_and_never_wakes():
    out = simulate_held(tiny_trace([10.0, 3000.0]), OursHeld(1), min_replicas=1, routing="least", release_lag=3.0,
                        cold_start=COLD)
    assert out.wakes == 0 and out.first_waits == []
    assert np.nanmax(out.result.waits) < 1.0


def test_ours_goes_to_zero_after_its_idle_window_and_wakes_on_the_next_held_request():
    # Two sessions an hour apart: one wake each (the fleet starts at zero), zero in between.
    trace = tiny_trace([100.0, 110.0, 3700.0], sessions=(100.0, 3700.0))
    out = simulate_held(trace, OursHeld(0, idle_seconds=600, startup_seconds=COLD), min_replicas=0,
                        routing="least", release_lag=3.0, cold_start=COLD)
    assert out.wakes == 2
    assert len(out.session_first_waits) == 2 and min(out.session_first_waits) >= COLD
    assert all(asked == 0 for now, asked, _, _ in out.result.timeline if 1000 <= now < 3700)  # zero in between
    # Billed from each wake to the idle window's end: two replicas' lives of at most COLD + 600 s and a
    # decision or two, 2 GPUs each (the policy counts the window from the wake when the held requests
    # are done before its first look at the Ready replica).
    assert 2 * 2 * 600 / 3600 <= out.result.gpu_hours <= 2 * 2 * (COLD + 630) / 3600


def test_skipping_idle_ticks_changes_nothing():
    class NoSkip(HoldingFleet):
        def idle(self) -> bool:
            return False

    trace = tiny_trace([100.0, 101.0, 130.0, 2500.0, 2520.0, 6000.0], sessions=(100.0, 2500.0, 6000.0))
    for make in (lambda: OursHeld(0, 600, COLD), lambda: KedaHttp(48, 120)):
        results = []
        for cls in (HoldingFleet, NoSkip):
            fleet = cls(trace, make(), routing="service", cold_start=COLD, seed=3, min_replicas=0, release_lag=1.0)
            results.append(fleet.outcome())
        skipped, ticked = results
        assert np.array_equal(skipped.result.waits, ticked.result.waits)
        assert skipped.result.gpu_hours == ticked.result.gpu_hours
        assert skipped.wakes == ticked.wakes == 3


# --- the peer -------------------------------------------------------------------------------------------------
def view(now: float, asked: int, held: int = 0, running: tuple[int, ...] = ()) -> HeldFleetView:
    ready = tuple(ReplicaView(i, r, 0.0, 0, 0) for i, r in enumerate(running))
    return HeldFleetView(now, asked, asked - len(ready), ready, 0, held=held)


def test_the_peer_wakes_one_replica_on_the_first_held_request_and_stays_at_zero_without_one():
    peer = KedaHttp(target=100, scaledown_period=300)
    assert peer.decide(view(5.0, 0)) == 0
    assert peer.decide(view(6.0, 0, held=1)) == 1
    assert KedaHttp().decide(view(6.0, 0, held=500)) == 1  # KEDA activates to one; the HPA does the rest


def test_the_peer_goes_to_zero_after_scaledown_period_without_a_request_and_not_before():
    peer = KedaHttp(target=100, scaledown_period=300)
    peer.decide(view(0.0, 0, held=1))
    assert peer.decide(view(200.0, 1, running=(1,))) == 1  # last active at 200 s
    assert peer.decide(view(499.0, 1, running=(0,))) == 1
    assert peer.decide(view(500.0, 1, running=(0,))) == 0
    assert peer.next_change(0) == math.inf


def test_the_peer_counts_held_and_in_flight_requests_against_its_target():
    peer = KedaHttp(target=48, scaledown_period=300)
    peer.decide(view(0.0, 0, held=1))
    assert peer.decide(view(1.0, 1, running=(60,), held=0)) == 2  # the HPA's sync: ceil(60 / 48)
    assert peer.decide(view(2.0, 2, running=(60,), held=40)) == 2  # between syncs the HPA holds


def test_ours_is_handed_the_routers_held_count_at_zero():
    policy = OursHeld(0)
    assert policy.decide(view(10.0, 0, held=0)) == 0
    assert policy.decide(view(25.0, 0, held=100)) == math.ceil(100 / (64 * 0.75))


# --- the trace ------------------------------------------------------------------------------------------------
def test_the_trace_is_seeded():
    a, b, c = sparse(4, 6), sparse(4, 6), sparse(5, 6)
    for x, y in zip(a, b):
        assert np.array_equal(x.trace.arrivals, y.trace.arrivals) and np.array_equal(x.trace.prompt, y.trace.prompt)
    assert any(len(x.trace.arrivals) != len(z.trace.arrivals) or not np.array_equal(x.trace.arrivals, z.trace.arrivals)
               for x, z in zip(a, c))


def test_most_models_are_idle_most_of_the_day_and_a_few_are_busy():
    models = sparse(0)
    busy, quiet = models[:BUSY], models[BUSY:]
    assert all(m.busy for m in busy) and not any(m.busy for m in quiet)
    assert min(len(m.trace.arrivals) for m in busy) > 20 * max(len(m.trace.arrivals) for m in quiet)
    idle_shares = []
    for m in quiet:
        minutes = np.unique((m.trace.arrivals // 600).astype(int))  # 10-minute slots with a request
        idle_shares.append(1 - len(minutes) / (DAY / 600))
        assert np.all(np.diff(m.trace.arrivals) >= 0) and (m.trace.arrivals < DAY).all()
    assert np.median(idle_shares) > 0.8


def test_the_day_is_diurnal():
    arrivals = np.concatenate([m.trace.arrivals for m in sparse(1)])
    hours = (arrivals // HOUR).astype(int)
    day, night = np.isin(hours, range(10, 18)).sum(), np.isin(hours, [0, 1, 2, 3, 4, 5, 22, 23]).sum()
    assert day > 2 * night


def test_each_session_starts_with_a_request():
    for m in sparse(2, 8)[BUSY:]:
        for start in m.trace.bursts:
            assert np.isclose(m.trace.arrivals, start).any()
