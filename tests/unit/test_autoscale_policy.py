"""The scaling policy's promises, as properties over generated fleets and histories."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings, strategies as st

from modelfleet.api.spec import AutoscalingSpec
from modelfleet.autoscale.observations import EngineLoad, Observation
from modelfleet.autoscale.policy import (
    DOWN_BAND,
    MIN_UP_STEP,
    RESERVE_BATCHES,
    RESERVE_PER_REQUEST,
    STARTUP_SECONDS,
    Decision,
    FleetSnapshot,
    PolicySettings,
    PolicyState,
    burst_reserve,
    decide,
    growth,
    limit_step,
)

BATCH = 8


def make_settings(min_replicas=1, max_replicas=10, target=4.0, up=0, down=300, occupancy=1.0,
                  reserve=0.0, startup=STARTUP_SECONDS) -> PolicySettings:
    """Full occupancy and no burst reserve by default, to keep the arithmetic in the tests plain;
    ``reserve``: the reserve's cap in batches at a cold start of STARTUP_SECONDS (RESERVE_BATCHES is the
    policy's own); ``startup``: the cold start the policy plans for."""
    return replace(PolicySettings.from_spec(
        AutoscalingSpec(min_replicas=min_replicas, max_replicas=max_replicas, target_queue_depth=target,
                        scale_up_stabilization_seconds=up, scale_down_stabilization_seconds=down),
        batch_limit=BATCH,
        target_occupancy=occupancy,
        startup_seconds=startup,
    ), reserve_batches=reserve)


def fleet(replicas: int, ready: int, waiting: float, running: float, completed: float = 0.0,
          missing: int = 0) -> FleetSnapshot:
    """``ready`` replicas sharing the load evenly; the last ``missing`` of them gave no metrics."""
    observations = tuple(
        Observation(f"r{i}", error="connection refused") if i >= ready - missing
        else Observation(f"r{i}", EngineLoad(waiting=waiting / ready, running=running / ready,
                                             completed=completed / ready))
        for i in range(ready)
    )
    return FleetSnapshot(replicas=replicas, ready=ready, observations=observations)


@dataclass
class Run:
    """Feeds snapshots through the policy as the operator's timer would, applying each decision."""

    settings: PolicySettings
    replicas: int
    state: PolicyState = PolicyState()

    def step(self, now: float, **load) -> Decision:
        decision = decide(self.settings, fleet(self.replicas, **load), self.state, now)
        self.state, self.replicas = decision.state, decision.replicas
        return decision


# ---- examples: what a person would check first ------------------------------------------------


def test_a_queue_above_target_scales_up_at_once():
    decision = decide(make_settings(), fleet(2, 2, waiting=40, running=16), PolicyState(), now=0)
    assert decision.replicas > 2
    assert decision.reason == "ScaleUp"
    assert decision.queue_depth == 20
    assert "40 waiting" in decision.message


def test_an_idle_fleet_scales_down_only_after_the_window():
    run = Run(make_settings(down=300), replicas=4)
    decisions = [run.step(t, ready=4, waiting=0, running=0) for t in range(0, 301, 15)]
    assert [d.replicas for d in decisions[:-1]] == [4] * (len(decisions) - 1)
    assert decisions[-2].reason == "StabilizingScaleDown"
    assert decisions[-1].replicas < 4 and decisions[-1].reason == "ScaleDown"


def test_a_failed_scrape_holds_the_size_and_says_why():
    decision = decide(make_settings(down=0), fleet(4, 4, waiting=0, running=0, missing=1), PolicyState(), now=0)
    assert decision.replicas == 4
    assert decision.reason == "MetricsMissing"
    assert "connection refused" in decision.message


def test_replicas_the_timer_could_not_scrape_count_as_missing():
    snapshot = fleet(3, 3, waiting=0, running=0)
    fewer = FleetSnapshot(replicas=3, ready=3, observations=snapshot.observations[:2])
    decision = decide(make_settings(down=0), fewer, PolicyState(), now=0)
    assert decision.replicas == 3 and decision.reason == "MetricsMissing"


def test_the_answering_replicas_can_still_prove_a_scale_up():
    decision = decide(make_settings(), fleet(2, 2, waiting=200, running=16, missing=1), PolicyState(), now=0)
    assert decision.replicas > 2 and decision.reason == "MetricsMissing"


def test_no_ready_replica_holds():
    decision = decide(make_settings(down=0), FleetSnapshot(replicas=3, ready=0, observations=()), PolicyState(), 0)
    assert decision.replicas == 3 and decision.reason == "NoReadyReplicas"


def test_starting_replicas_count_as_capacity_on_the_way():
    """The queue keeps growing while new replicas start (3 minutes): the arrival rate, not the
    backlog, sizes the fleet, so the replicas already asked for are not asked for again."""
    run = Run(make_settings(), replicas=2)
    first = run.step(0, ready=2, waiting=40, running=16, completed=0)
    # 2 ready replicas finish 1 req/s each; 3 req/s arrive: the queue grows by 1 req/s.
    later = [run.step(t, ready=2, waiting=40 + t, running=16, completed=2 * t) for t in range(15, 181, 15)]
    backlog_sized = (16 + (40 + 180) - 4 * 2) / BATCH  # what counting the queue as work would ask: 29
    assert first.replicas == 6
    assert max(d.replicas for d in later) <= 7 < backlog_sized / 4
    assert later[0].reason == "StabilizingScaleDown"  # 3 keep up + the drain: fewer than the 6 asked for


def test_a_faster_growing_queue_asks_for_more_while_replicas_start():
    run = Run(make_settings(), replicas=2)
    run.step(0, ready=2, waiting=40, running=16, completed=0)
    run.step(15, ready=2, waiting=40, running=16, completed=30)
    asked = run.replicas
    run.step(30, ready=2, waiting=40 + 15 * 10, running=16, completed=60)  # 12 req/s arrive, 2 finish
    assert run.replicas > asked


def test_spare_batch_slots_are_kept_for_bursts():
    """24 running requests fill 3 replicas of 8 slots; at 75 % occupancy that takes 4 (on the second
    decision that asks for it: headroom is not bought on one scrape)."""
    run = Run(make_settings(occupancy=0.75, down=0), replicas=3)
    first = run.step(0, ready=3, waiting=0, running=24)
    assert first.recommendation == 4 and first.replicas == 3 and first.reason == "ConfirmingScaleUp"
    second = run.step(15, ready=3, waiting=0, running=24)
    assert second.replicas == 4
    assert "at 75% batch occupancy" in second.message


def test_a_small_fleet_keeps_a_burst_reserve():
    """8 running fill one replica of 8 slots; 75 % occupancy alone would keep 2 replicas, the reserve
    (1.5 x the 8 in flight = 12 spare slots, under the cap of 2.5 batches) asks for ceil((8 + 12) / 8) = 3."""
    run = Run(make_settings(occupancy=0.75, down=0, reserve=RESERVE_BATCHES), replicas=2)
    assert RESERVE_PER_REQUEST * 8 < RESERVE_BATCHES * BATCH
    first = run.step(0, ready=2, waiting=0, running=8)
    assert first.recommendation == 3 and first.reason == "ConfirmingScaleUp"
    second = run.step(15, ready=2, waiting=0, running=8)
    assert second.replicas == 3
    assert "burst reserve of 12 spare batch slots" in second.message


def test_the_reserve_stops_at_its_cap_where_the_occupancy_keeps_more():
    """64 running fill 8 replicas: the reserve is capped at 2.5 batches (10.5 replicas), and the
    occupancy's share is the larger spare (64 / 6 = 10.67, so 11)."""
    run = Run(make_settings(occupancy=0.75, down=0, max_replicas=20, reserve=RESERVE_BATCHES), replicas=8)
    first = run.step(0, ready=8, waiting=0, running=64)
    assert first.recommendation == 11
    assert "at 75% batch occupancy" in first.message


def test_an_idle_fleet_keeps_no_reserve():
    run = Run(make_settings(min_replicas=1, occupancy=0.75, down=60, reserve=RESERVE_BATCHES), replicas=4)
    for t in range(0, 121, 15):
        run.step(t, ready=run.replicas, waiting=0, running=0)
    assert run.replicas == 1


def test_a_queue_above_target_does_not_wait_for_a_second_decision():
    decision = decide(make_settings(occupancy=0.75), fleet(3, 3, waiting=30, running=24), PolicyState(), 0)
    assert decision.replicas > 3 and decision.reason == "ScaleUp"


def test_a_small_standing_queue_under_target_still_scales_up():
    """The counterexample left open: every batch full and 3 waiting per replica, under the target of 4,
    for as long as you like. The running count alone said "exactly full" and held for ever; the
    requests in flight (running + waiting) say the fleet is short."""
    run = Run(make_settings(target=4.0, occupancy=1.0), replicas=3)
    decisions = [run.step(t, ready=run.replicas, waiting=3 * run.replicas, running=BATCH * run.replicas,
                          completed=t) for t in range(0, 601, 15)]
    assert decisions[1].replicas > 3


def test_a_steadily_rising_load_is_met_before_it_fills_the_batches():
    """In flight grows 0.1 request/s within target: by the time a replica is Ready
    (STARTUP_SECONDS, 180 s) 18 more are in flight, so the fleet grows ahead of the occupancy target."""
    run = Run(make_settings(occupancy=0.75, down=600, max_replicas=20), replicas=4)
    for t in range(0, 301, 15):
        decision = run.step(t, ready=run.replicas, waiting=0, running=16 + 0.1 * t)
    assert 16 + 0.1 * 300 < 4 * BATCH * 0.75 * 2  # the load alone asks for no more than 8
    assert run.replicas > math.ceil((16 + 0.1 * 300) / (BATCH * 0.75))
    assert "rising by" in decision.message


def test_the_trend_of_a_flat_or_falling_series_is_zero():
    assert growth(tuple((15.0 * i, 40.0) for i in range(20))) == 0
    assert growth(tuple((15.0 * i, 40.0 - i) for i in range(20))) == 0
    assert growth(tuple((15.0 * i, 40.0 + 2 * i) for i in range(20))) == pytest.approx(2 / 15)
    assert growth(((0.0, 1.0), (15.0, 2.0))) == 0  # too few samples to say


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 400), min_size=4, max_size=20), st.floats(0.01, 3))
def test_noise_around_a_level_adds_less_than_its_own_slope(values, scale):
    """The trend is the slope minus two standard errors: never above the least-squares slope."""
    samples = tuple((15.0 * i, v * scale) for i, v in enumerate(values))
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / sum((t - mean_t) ** 2 for t, _ in samples)
    assert 0 <= growth(samples) <= max(0.0, slope) + 1e-9


def test_the_step_per_decision_is_limited():
    assert limit_step(2, 100) == 2 + MIN_UP_STEP
    assert limit_step(10, 100) == 20
    assert limit_step(10, 1) == 5
    assert limit_step(1, 0) == 0  # bounds, applied after, keep minReplicas


def test_bounds_changed_by_the_user_win_over_missing_data():
    decision = decide(make_settings(max_replicas=3), fleet(5, 5, 0, 0, missing=2), PolicyState(), now=0)
    assert decision.replicas == 3


def test_from_spec_reads_the_api_fields():
    spec = AutoscalingSpec.model_validate({"minReplicas": 2, "maxReplicas": 7, "targetQueueDepth": 3,
                                           "scaleUpStabilizationSeconds": 30, "scaleDownStabilizationSeconds": 60})
    assert PolicySettings.from_spec(spec, batch_limit=BATCH) == PolicySettings(
        min_replicas=2, max_replicas=7, target_queue_depth=3.0, scale_up_window_s=30, scale_down_window_s=60,
        batch_limit=BATCH, target_occupancy=0.75, startup_seconds=STARTUP_SECONDS)
    assert PolicySettings.from_spec(spec, batch_limit=BATCH, startup_seconds=42.0).startup_seconds == 42.0


# ---- the cold start: the reserve and the look-ahead follow it -------------------------------------


def test_the_reserve_at_the_reference_cold_start_is_the_constants():
    """At STARTUP_SECONDS (180 s) the reserve is RESERVE_PER_REQUEST x in flight, at most RESERVE_BATCHES."""
    settings = make_settings(occupancy=0.75, reserve=RESERVE_BATCHES)
    assert settings.startup_seconds == STARTUP_SECONDS == 180.0
    assert burst_reserve(settings, 1.0) == pytest.approx(RESERVE_PER_REQUEST)
    assert burst_reserve(settings, 100.0) == pytest.approx(RESERVE_BATCHES)


def test_a_third_of_the_cold_start_keeps_a_third_of_the_reserve():
    """8 running on one replica of 8: at 180 s the reserve is 12 spare slots (3 replicas, see above);
    at 60 s it is 4, and the occupancy's share (2 replicas) is the larger spare."""
    for startup, slots, replicas in ((180.0, 12, 3), (60.0, 4, 2)):
        settings = make_settings(occupancy=0.75, down=0, reserve=RESERVE_BATCHES, startup=startup)
        assert burst_reserve(settings, 1.0) * BATCH == pytest.approx(slots)
        first = decide(settings, fleet(2, 2, waiting=0, running=8), PolicyState(), 0)
        assert first.recommendation == replicas


def test_no_cold_start_keeps_no_reserve_and_looks_no_further_ahead():
    run = Run(make_settings(occupancy=0.75, down=600, max_replicas=20, reserve=RESERVE_BATCHES, startup=0.0),
              replicas=4)
    for t in range(0, 301, 15):
        decision = run.step(t, ready=run.replicas, waiting=0, running=16 + 0.1 * t)
    assert "rising by" not in decision.message and "burst reserve" not in decision.message
    assert decision.recommendation == math.ceil((16 + 0.1 * 300) / (BATCH * 0.75))


def test_the_look_ahead_is_one_cold_start():
    """The same rising load (0.1 request/s more in flight), planned over 180 s and over 20 s."""
    messages = {}
    for startup in (180.0, 20.0):
        run = Run(make_settings(occupancy=0.75, down=600, max_replicas=20, startup=startup), replicas=4)
        for t in range(0, 301, 15):
            decision = run.step(t, ready=4, waiting=0, running=16 + 0.1 * t)
        messages[startup] = decision.message
    assert "over the 180 s a replica takes to start" in messages[180.0]
    assert "over the 20 s a replica takes to start" in messages[20.0]


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 100), st.floats(0, 600), st.floats(0, 600))
def test_the_reserve_grows_with_the_cold_start_and_never_exceeds_its_scaled_cap(load, a, b):
    settings = make_settings(reserve=RESERVE_BATCHES)
    short, long_ = replace(settings, startup_seconds=min(a, b)), replace(settings, startup_seconds=max(a, b))
    assert 0 <= burst_reserve(short, load) <= burst_reserve(long_, load) + 1e-12
    assert burst_reserve(long_, load) <= RESERVE_BATCHES * min(1.0, max(a, b) / STARTUP_SECONDS) + 1e-9


def test_a_cold_start_longer_than_the_reference_keeps_the_reference_reserve():
    """Not simulated above STARTUP_SECONDS: the reserve stays at its 180 s size (the look-ahead still grows)."""
    settings = make_settings(reserve=RESERVE_BATCHES)
    for load in (0.5, 1.0, 10.0):
        assert burst_reserve(replace(settings, startup_seconds=600.0), load) == burst_reserve(settings, load)


# ---- properties ----------------------------------------------------------------------------------

bounds = st.tuples(st.integers(1, 20), st.integers(0, 20)).map(lambda b: (b[0], b[0] + b[1]))
loads = st.fixed_dictionaries({
    "waiting": st.floats(0, 500),
    "running": st.floats(0, 200),
    "completed": st.floats(0, 1e5),
    "missing": st.integers(0, 3),
})


@st.composite
def scenarios(draw):
    low, high = draw(bounds)
    policy = make_settings(low, high, draw(st.sampled_from([0.5, 1.0, 4.0, 20.0])),
                           up=draw(st.sampled_from([0, 15, 60])), down=draw(st.sampled_from([0, 30, 300])),
                           occupancy=draw(st.sampled_from([0.5, 0.75, 1.0])),
                           reserve=draw(st.sampled_from([0.0, RESERVE_BATCHES])))
    start = draw(st.integers(low, high))
    gaps = draw(st.lists(st.sampled_from([1.0, 5.0, 15.0, 60.0]), min_size=1, max_size=25))
    steps = draw(st.lists(loads, min_size=len(gaps), max_size=len(gaps)))
    starting = draw(st.lists(st.integers(0, 3), min_size=len(gaps), max_size=len(gaps)))
    return policy, start, gaps, steps, starting


def replay(policy, start, gaps, steps, starting):
    """Yield (snapshot, decision, state before) for a generated history."""
    state, replicas, now = PolicyState(), start, 0.0
    for gap, load, still_starting in zip(gaps, steps, starting):
        now += gap
        ready = max(1, replicas - still_starting)
        snapshot = fleet(replicas, ready, load["waiting"], load["running"], load["completed"],
                         min(load["missing"], ready))
        decision = decide(policy, snapshot, state, now)
        yield snapshot, decision, state, now
        state, replicas = decision.state, decision.replicas


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_outside_bounds(scenario):
    policy = scenario[0]
    for _, decision, _, _ in replay(*scenario):
        assert policy.min_replicas <= decision.replicas <= policy.max_replicas


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_down_on_missing_data(scenario):
    policy = scenario[0]
    for snapshot, decision, _, _ in replay(*scenario):
        if not snapshot.complete:
            assert decision.replicas >= min(snapshot.replicas, policy.max_replicas)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_down_only_after_the_window_of_lower_recommendations(scenario):
    policy = scenario[0]
    history: list[tuple[float, int]] = []
    for snapshot, decision, before, now in replay(*scenario):
        history.append((now, decision.recommendation))
        if decision.replicas < snapshot.replicas and snapshot.replicas <= policy.max_replicas:
            window = [r for t, r in history if t >= now - policy.scale_down_window_s]
            assert max(window) < snapshot.replicas
            assert now - (before.since if before.since is not None else now) >= policy.scale_down_window_s
            assert snapshot.complete


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_up_only_after_the_window_of_higher_recommendations(scenario):
    policy = scenario[0]
    history: list[tuple[float, int]] = []
    for snapshot, decision, before, now in replay(*scenario):
        history.append((now, decision.recommendation))
        if decision.replicas > snapshot.replicas and snapshot.replicas >= policy.min_replicas:
            window = [r for t, r in history if t >= now - policy.scale_up_window_s]
            assert min(window) > snapshot.replicas
            assert now - (before.since if before.since is not None else now) >= policy.scale_up_window_s


def constant_load(limits, target, arrivals, service_s, occupancy, reserve, start, steps=80) -> list[int]:
    """Replica counts under a constant offered load, in a fluid model of the fleet.

    Every 15 s: the fleet finishes up to replicas x BATCH / service_s req/s; the excess
    queues up and a surplus drains it; running follows Little's law below saturation.
    Replicas are ready at once (cold starts belong to the fleet simulator).
    """
    low, high = limits
    run = Run(make_settings(low, high, target, up=0, down=60, occupancy=occupancy, reserve=reserve),
              replicas=max(low, min(high, start)))
    queue = completed = 0.0
    sizes = []
    for i in range(steps):
        capacity = run.replicas * BATCH / service_s
        saturated = queue > 0 or arrivals >= capacity
        finished = capacity if saturated else arrivals
        running = run.replicas * BATCH if saturated else arrivals * service_s
        queue = max(0.0, queue + (arrivals - capacity) * 15.0)
        completed += finished * 15.0
        run.step(15.0 * i, ready=run.replicas, waiting=queue, running=running, completed=completed)
        sizes.append(run.replicas)
    return sizes


def replicas_needed(load: float, occupancy: float, reserve: float) -> float:
    """The policy's need, restated: ``load`` replicas' worth in flight, at the occupancy or with the
    burst reserve (capped at ``reserve`` batches), whichever keeps more spare."""
    return max(load / occupancy, load + min(reserve, RESERVE_PER_REQUEST * load))


def reversals(sizes: list[int]) -> int:
    moves = [b - a for a, b in zip(sizes, sizes[1:]) if b != a]
    return sum((a > 0) != (b > 0) for a, b in zip(moves, moves[1:]))


constant_loads = st.tuples(bounds, st.sampled_from([1.0, 4.0, 16.0]), st.integers(1, 40), st.floats(2, 30),
                           st.sampled_from([0.75, 1.0]), st.sampled_from([0.0, RESERVE_BATCHES]))


@settings(max_examples=100, deadline=None)
@given(constant_loads)
def test_constant_load_from_enough_replicas_only_scales_down_and_settles(load):
    """No backlog to drain: the fleet moves one way (down to what the load needs) and holds."""
    limits, target, arrivals, service_s, occupancy, reserve = load
    needed = replicas_needed(arrivals * service_s / BATCH, occupancy, reserve)
    sizes = constant_load(limits, target, arrivals, service_s, occupancy, reserve, start=math.ceil(needed) + 3)
    assert all(b <= a for a, b in zip(sizes, sizes[1:])), sizes
    assert len(set(sizes[-30:])) == 1, sizes


@settings(max_examples=100, deadline=None)
@given(constant_loads, st.integers(1, 20))
def test_constant_load_from_too_few_replicas_turns_at_most_once_and_settles(load, start):
    """Too few replicas build a backlog; the policy may overshoot once to drain it, then it settles."""
    limits, target, arrivals, service_s, occupancy, reserve = load
    sizes = constant_load(limits, target, arrivals, service_s, occupancy, reserve, start=start)
    assert reversals(sizes) <= 1, sizes
    assert len(set(sizes[-30:])) == 1, sizes


@settings(max_examples=150, deadline=None)
@given(constant_loads, st.integers(1, 20))
def test_a_full_fleet_with_any_standing_queue_grows(load, start):
    """Every batch full and a queue that stays (any size, even under target): within two decisions
    the fleet grows, unless it is at maxReplicas."""
    limits, target, _, _, occupancy, reserve = load
    low, high = limits
    run = Run(make_settings(low, high, target, occupancy=occupancy, reserve=reserve),
              replicas=max(low, min(high, start)))
    before = run.replicas
    for i in range(2):
        run.step(15.0 * i, ready=before, waiting=0.5 * before, running=BATCH * before, completed=15.0 * i)
    assert run.replicas > before or before == high


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.floats(0, 1), st.sampled_from([0.5, 0.75, 0.9, 1.0]),
       st.sampled_from([0.0, RESERVE_BATCHES]))
def test_after_a_scale_down_the_same_load_does_not_ask_back(replicas, share, occupancy, reserve):
    """Hysteresis: a replica goes only when the load fits the smaller fleet at occupancy - DOWN_BAND
    (with the reserve: the need times o / (o - DOWN_BAND)), so that same load, on the smaller fleet,
    recommends no more than the smaller fleet."""
    policy = make_settings(1, 20, 4.0, down=60, occupancy=occupancy, reserve=reserve)
    running = share * replicas * BATCH
    run = Run(policy, replicas=replicas)
    for t in range(0, 301, 15):
        run.step(float(t), ready=run.replicas, waiting=0, running=running)
    if run.replicas < replicas:
        after = decide(policy, fleet(run.replicas, run.replicas, 0, running), run.state, 315.0)
        assert after.recommendation <= run.replicas
        need = replicas_needed(running / BATCH, occupancy, reserve)
        assert need * occupancy / max(0.05, occupancy - DOWN_BAND) <= run.replicas + 1e-6


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.floats(0, 400), st.floats(0, 400))
def test_a_shorter_cold_start_never_asks_for_more(scenario, a, b):
    """The same observations, one after the other, planned for two cold starts: the shorter one never
    recommends, keeps or sets more replicas (the reserve and the look-ahead only grow with it)."""
    policy, start, gaps, steps, starting = scenario
    short, long_ = (replace(policy, startup_seconds=min(a, b)), replace(policy, startup_seconds=max(a, b)))
    replicas = start
    state_short, state_long, now = PolicyState(), PolicyState(), 0.0
    for gap, load, still_starting in zip(gaps, steps, starting):
        now += gap
        ready = max(1, replicas - still_starting)
        snapshot = fleet(replicas, ready, load["waiting"], load["running"], load["completed"],
                         min(load["missing"], ready))
        d_short = decide(short, snapshot, state_short, now)
        d_long = decide(long_, snapshot, state_long, now)
        assert d_short.recommendation <= d_long.recommendation
        assert d_short.replicas <= d_long.replicas
        assert all(x <= y for (_, _, x), (_, _, y) in zip(d_short.state.history, d_long.state.history))
        state_short, state_long = d_short.state, d_long.state
        replicas = d_long.replicas  # both see the same fleet: the longer cold start's
