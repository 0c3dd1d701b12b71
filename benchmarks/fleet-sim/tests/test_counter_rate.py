"""explore_counters.CounterRate: the arrivals it reads from the engines' counters are the ones that came."""
from __future__ import annotations

from explore_counters import CounterRate
from fleet import FleetView, ReplicaView


def view(now: float, asked: int, *replicas: tuple[int, int, int, int]) -> FleetView:
    """replicas: (id, running, waiting, completed)."""
    ready = tuple(ReplicaView(i, running, float(waiting), completed, 0) for i, running, waiting, completed in replicas)
    return FleetView(now=now, asked=asked, starting=0, ready=ready, waiting=sum(r[2] for r in replicas))


def test_arrivals_are_finished_plus_the_change_in_flight_and_a_new_replica_counts_from_zero():
    policy = CounterRate(window=60.0, share=5.0)
    assert policy.decide(view(0.0, 2, (0, 10, 0, 100), (1, 10, 0, 100))) == 2  # no rate yet: holds
    # In 15 s: replica 0 finished 40 and holds 20 more in flight (60 came), replica 1 finished 30 and holds 5
    # fewer (25 came), new replica 2 finished 4 and holds 11 (15 came): 100 arrivals, 6.67 req/s -> 2 at 5 req/s.
    asked = policy.decide(view(15.0, 3, (0, 25, 5, 140), (1, 5, 0, 130), (2, 11, 0, 4)))
    assert abs(policy.rates[-1][1] - 100 / 15) < 1e-9
    assert asked == 2
    # Replica 2 gone; 174 + 99 arrivals in the next 15 s (18.2 req/s): 4 replicas; the highest rate of the
    # window holds after the rate falls.
    assert policy.decide(view(30.0, 2, (0, 64, 40, 240), (1, 64, 20, 150))) == 4
    assert policy.decide(view(45.0, 4, (0, 64, 40, 250), (1, 64, 20, 160))) == 4


def test_a_smoothed_rate_is_the_highest_mean_over_the_smoothing_span_within_the_window():
    policy = CounterRate(window=300.0, share=5.0, smooth=30.0)
    policy.rates.extend([(15.0, 30.0), (30.0, 0.0), (45.0, 10.0)])
    policy.last, policy.before = 45.0, {0: (0, 0.0)}
    # One more interval with 10 req/s: means over 30 s are 15, 5, 10: the highest, 15 req/s, asks for 3.
    assert policy.decide(view(60.0, 2, (0, 0, 0, 150))) == 3
