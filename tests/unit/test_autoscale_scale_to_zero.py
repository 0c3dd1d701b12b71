"""minReplicas 0: idle fleets go to zero after the idle window, the router's held count wakes them, missing
router metrics never leave a request held unseen, and a loading replica is never scaled down."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings, strategies as st

from modelfleet.api.spec import AutoscalingSpec
from modelfleet.autoscale.observations import EngineLoad, Observation
from modelfleet.autoscale.policy import FleetSnapshot, PolicySettings, PolicyState, decide

BATCH = 8
IDLE = 600


def zero_settings(min_replicas: int = 0, max_replicas: int = 10, down: int = 300) -> PolicySettings:
    return PolicySettings.from_spec(
        AutoscalingSpec(min_replicas=min_replicas, max_replicas=max_replicas,
                        scale_down_stabilization_seconds=down, scale_to_zero_after_seconds=IDLE),
        batch_limit=BATCH, startup_seconds=100)


def snapshot(replicas: int, ready: int, in_flight: float = 0.0, held: float | None = 0.0) -> FleetSnapshot:
    observations = tuple(Observation(f"r{i}", EngineLoad(waiting=0, running=in_flight / ready, completed=0))
                         for i in range(ready))
    return FleetSnapshot(replicas=replicas, ready=ready, observations=observations, held=held)


def run_idle(s: PolicySettings, replicas: int, until: float, step: float = 15) -> tuple[int, PolicyState, float]:
    """An idle fleet of ``replicas`` (all ready) decided every ``step`` s until ``until`` or zero."""
    state, now = PolicyState(), 0.0
    while now <= until:
        d = decide(s, snapshot(replicas, replicas), state, now)
        state, replicas = d.state, d.replicas
        if replicas == 0:
            return replicas, state, now
        now += step
    return replicas, state, now


def test_an_idle_fleet_keeps_one_replica_until_the_idle_window_has_passed_then_goes_to_zero_at_once():
    s = zero_settings()
    replicas, _, when = run_idle(s, 3, until=IDLE + 60)
    assert replicas == 0
    assert IDLE <= when < IDLE + 15
    # Before that, the down window takes it to one replica, never zero.
    state, count = PolicyState(), 3
    for now in range(0, IDLE, 15):
        d = decide(s, snapshot(count, count), state, float(now))
        state, count = d.state, d.replicas
        assert count >= 1


def test_the_decision_to_go_to_zero_says_why_and_what_wakes_it():
    s = zero_settings()
    state = PolicyState(since=0.0, last_busy=0.0)
    d = decide(s, snapshot(1, 1), state, float(IDLE))
    assert (d.replicas, d.reason) == (0, "ScaleToZero")
    assert "600" in d.message and "router holds the next request" in d.message


def test_a_request_in_flight_restarts_the_idle_window():
    s = zero_settings()
    state = PolicyState(since=0.0, last_busy=0.0)
    d = decide(s, snapshot(1, 1, in_flight=1), state, IDLE - 10.0)
    assert d.replicas == 1
    d = decide(s, snapshot(1, 1), d.state, IDLE + 10.0)
    assert d.replicas == 1  # only 20 s idle
    d = decide(s, snapshot(1, 1), d.state, 2 * IDLE - 10.0)
    assert d.replicas == 0


def test_a_held_request_counts_as_busy():
    s = zero_settings()
    d = decide(s, snapshot(1, 1, held=2), PolicyState(since=0.0, last_busy=0.0), float(IDLE))
    assert d.replicas == 1


def test_at_zero_the_first_held_request_wakes_a_replica():
    s = zero_settings()
    d = decide(s, snapshot(0, 0, held=1), PolicyState(since=0.0), 10.0)
    assert (d.replicas, d.reason) == (1, "WakeUp")
    assert "holds 1 requests" in d.message


@given(held=st.integers(1, 500))
@settings(max_examples=50)
def test_at_zero_enough_replicas_wake_for_what_is_held_within_max_replicas(held):
    s = zero_settings(max_replicas=6)
    d = decide(s, snapshot(0, 0, held=held), PolicyState(since=0.0), 10.0)
    per_replica = BATCH * s.target_occupancy  # 6 requests fill a replica at the target occupancy
    assert d.replicas == min(6, math.ceil(held / per_replica))


def test_at_zero_with_nothing_held_the_fleet_stays_idle():
    s = zero_settings()
    d = decide(s, snapshot(0, 0, held=0), PolicyState(since=0.0), 10.0)
    assert (d.replicas, d.reason) == (0, "Idle")


def test_at_zero_missing_router_metrics_wake_one_replica_rather_than_leave_a_request_unseen():
    s = zero_settings()
    d = decide(s, snapshot(0, 0, held=None), PolicyState(since=0.0), 10.0)
    assert (d.replicas, d.reason) == (1, "MetricsMissing")


def test_at_zero_routers_that_were_never_ready_hold_no_request_and_wake_nothing():
    """A fleet created or autoscaled at zero while its router pods start: the Service has no endpoint yet."""
    s = zero_settings()
    starting = replace(snapshot(0, 0, held=None), routers_ready=0)
    d = decide(s, starting, PolicyState(since=0.0), 10.0)
    assert (d.replicas, d.reason) == (0, "WaitingForRouters")
    assert "no router pod has been ready yet" in d.message


def test_at_zero_no_router_ready_after_one_was_read_wakes_one_replica():
    """Once read, a router that is no longer ready may hold requests nobody sees: the safe side wakes one."""
    s = zero_settings()
    read = decide(s, replace(snapshot(0, 0, held=0), routers_ready=2), PolicyState(since=0.0), 10.0)
    assert (read.replicas, read.reason, read.state.routers_seen) == (0, "Idle", True)
    gone = decide(s, replace(snapshot(0, 0, held=None), routers_ready=0), read.state, 25.0)
    assert (gone.replicas, gone.reason) == (1, "MetricsMissing")
    unread = decide(s, replace(snapshot(0, 0, held=None), routers_ready=1), PolicyState(since=0.0), 10.0)
    assert (unread.replicas, unread.reason) == (1, "MetricsMissing")  # a ready router it cannot read


def test_missing_router_metrics_never_let_a_fleet_go_to_zero():
    s = zero_settings()
    state = PolicyState(since=0.0, last_busy=0.0)
    for now in range(0, 3 * IDLE, 15):
        d = decide(s, snapshot(1, 1, held=None), state, float(now))
        state = d.state
        assert d.replicas == 1


def test_a_fleet_that_is_waking_holds_while_no_replica_is_ready():
    s = zero_settings()
    d = decide(s, snapshot(1, 0, held=3), PolicyState(since=0.0), 30.0)
    assert (d.replicas, d.reason) == (1, "NoReadyReplicas")
    assert "3 requests held by the router" in d.message


def test_minreplicas_one_never_goes_to_zero_however_long_idle():
    s = zero_settings(min_replicas=1)
    replicas, _, _ = run_idle(s, 3, until=5 * IDLE)
    assert replicas == 1


@given(ready=st.integers(1, 6), starting=st.integers(1, 4), idle_for=st.floats(0, 5000))
@settings(max_examples=100)
def test_a_replica_that_is_loading_or_warming_up_is_never_scaled_down(ready, starting, idle_for):
    """The load fell to nothing while replicas start: whatever the windows say, nothing goes until they
    are Ready (the ReplicaSet would remove the unready ones first)."""
    for min_replicas in (0, 1):
        s = zero_settings(min_replicas=min_replicas, down=0)
        state = PolicyState(since=0.0, last_busy=0.0)
        d = decide(s, snapshot(ready + starting, ready), state, idle_for)
        assert d.replicas == ready + starting
        if d.recommendation < ready + starting and idle_for < IDLE:
            assert d.reason == "WaitingForStartingReplicas"
            assert "loading or warming up" in d.message


def test_above_max_replicas_the_fleet_shrinks_even_while_replicas_start():
    s = replace(zero_settings(max_replicas=2), min_replicas=1)
    d = decide(s, snapshot(5, 2), PolicyState(since=0.0), 10.0)
    assert d.replicas < 5 and d.reason == "OutsideBounds"


def test_requests_held_while_the_fleet_wakes_count_as_busy():
    """The idle window starts again from the last held request, not from the last one an engine ran."""
    s = zero_settings()
    d = decide(s, snapshot(1, 0, held=2), PolicyState(since=0.0, last_busy=0.0), 500.0)
    assert d.state.last_busy == 500.0
    d = decide(s, snapshot(1, 1), d.state, 700.0)
    assert d.replicas == 1  # 200 s after the held requests, not 700 s after the last busy moment
