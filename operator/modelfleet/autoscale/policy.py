"""The scaling policy: pure (no I/O, no clock). ``decide`` maps what the fleet
reported, plus the state the previous decision returned, to a replica count.

How many replicas the load needs (``estimate_demand``), with B the engine's
batch limit (``--max-num-seqs``), t ``targetQueueDepth`` and o the target
batch occupancy (``TARGET_OCCUPANCY``):

- While the queue is at most t per ready replica, the fleet keeps up, and the
  running requests say how much of it is in use: ``running / (B * o)``
  replicas hold them with a share 1 - o of the batch slots to spare. Queue
  depth alone cannot say this (it is zero for any fleet that keeps up),
  which is why a pure queue threshold scales down to the minimum and then
  back up, over and over, under a steady load.
- When the queue is above t per ready replica the fleet is saturated, and
  the running count only says "all of it". Then the rates between two
  decisions do: requests finished per second (c) and queue growth per second
  (g) give the arrival rate c + g, and a replica's throughput c / ready, so
  the fleet needs ``ready * (c + g) / c`` full replicas to keep up, plus
  enough to drain the queue above target within ``DRAIN_SECONDS``, divided by
  o to get the spare slots back. Before two scrapes give a rate, the queue
  above target counts as work for full batches.

The spare share exists because a replica takes minutes to start: a burst that
arrives meanwhile lands on the replicas already running. With o = 0.75 and
Mixtral-sized cold starts (180 s), the fleet simulator's bursty day keeps its
p95 queue wait at 0 s; o = 1 saves ~20 % GPU-hours but waits 15 s at p95
(benchmarks/fleet-sim/results.md has the sweep).

Because the saturated estimate follows the arrival rate, not the backlog,
the queue that piles up while new replicas start does not ask for ever more
replicas: the starting replicas count as capacity on the way (the estimate is
compared with all replicas asked for, ready or not), so a 3-minute cold start
does not overshoot.

Then, like the HorizontalPodAutoscaler's stabilization: scale up to the
*lowest* recommendation of the last ``scaleUpStabilizationSeconds`` (0: at
once), scale down to the *highest* of the last
``scaleDownStabilizationSeconds``, and never down before that window has been
watched in full (after a restart or a gap in the metrics). One decision moves
at most ``max(MIN_UP_STEP, replicas)`` up (the HPA's default scale-up policy:
+100 % or +4 pods) and at most half the replicas down; the result is always
within ``minReplicas..maxReplicas``.

Missing data never scales down: if any ready replica's scrape is missing, the
fleet keeps its size, and may only grow to what the replicas that answered
already prove is needed (their queues are a lower bound of the fleet's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from modelfleet.api.spec import AutoscalingSpec

from .observations import Observation

MIN_UP_STEP = 4
DRAIN_SECONDS = 60.0
TARGET_OCCUPANCY = 0.75


@dataclass(frozen=True)
class PolicySettings:
    min_replicas: int
    max_replicas: int
    target_queue_depth: float
    scale_up_window_s: float
    scale_down_window_s: float
    batch_limit: int
    target_occupancy: float = TARGET_OCCUPANCY

    @classmethod
    def from_spec(cls, spec: AutoscalingSpec, batch_limit: int,
                  target_occupancy: float = TARGET_OCCUPANCY) -> "PolicySettings":
        """``batch_limit``: sequences one replica runs at once (the engine's --max-num-seqs);
        ``target_occupancy``: the share of those slots the fleet aims to fill."""
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            target_queue_depth=spec.target_queue_depth,
            scale_up_window_s=spec.scale_up_stabilization_seconds,
            scale_down_window_s=spec.scale_down_stabilization_seconds,
            batch_limit=batch_limit,
            target_occupancy=target_occupancy,
        )

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True)
class FleetSnapshot:
    """``replicas`` asked for now, ``ready`` of them serving; one observation per ready replica."""

    replicas: int
    ready: int
    observations: tuple[Observation, ...]

    @property
    def starting(self) -> int:
        return max(0, self.replicas - self.ready)

    @property
    def missing(self) -> tuple[Observation, ...]:
        return tuple(o for o in self.observations if o.missing)

    @property
    def complete(self) -> bool:
        return not self.missing and len(self.observations) >= self.ready


@dataclass(frozen=True)
class RateSample:
    """Per-replica counters of the last complete scrape, to turn the next one into rates."""

    time: float
    completed: tuple[tuple[str, float], ...]
    waiting: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class PolicyState:
    """What one decision hands to the next. Start from ``PolicyState()``."""

    since: float | None = None  # first decision: the windows count from here
    history: tuple[tuple[float, int], ...] = ()  # (time, recommendation), within the longer window
    previous: RateSample | None = None
    last_scale_time: float | None = None


@dataclass(frozen=True)
class Demand:
    replicas: float  # replicas the load needs (fractional)
    basis: str  # the numbers, for a person


@dataclass(frozen=True)
class Decision:
    replicas: int  # what to set
    previous: int  # what was set
    recommendation: int  # what the load asked for, before stabilization, step and bounds
    queue_depth: float | None  # requests waiting per ready replica
    reason: str  # one CamelCase word, for events
    message: str  # the numbers and the why, for a person
    state: PolicyState

    @property
    def changed(self) -> bool:
        return self.replicas != self.previous


def decide(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float) -> Decision:
    """The replica count for ``snapshot`` at time ``now`` (seconds, any monotonic origin)."""
    if state.since is None:
        state = replace(state, since=now)
    if snapshot.ready == 0:
        return hold(settings, snapshot, state, now, "NoReadyReplicas",
                    f"no replica is ready yet ({snapshot.starting} starting), so there is no queue to read")
    if not snapshot.complete:
        return decide_on_partial_data(settings, snapshot, state, now)
    demand = estimate_demand(settings, snapshot, state.previous, now)
    recommendation = settings.clamp(math.ceil(demand.replicas - 1e-9))
    history = remember(settings, state.history, now, recommendation)
    stabilized = stabilize(settings, snapshot.replicas, history, state.since, now)
    desired = settings.clamp(limit_step(snapshot.replicas, stabilized))
    new_state = replace(state, history=history, previous=rate_sample(snapshot, now))
    reason, why = explain(settings, snapshot, recommendation, stabilized, desired)
    return finish(snapshot, state=new_state, now=now, desired=desired, recommendation=recommendation,
                  reason=reason, message=f"{demand.basis}; {why}")


def decide_on_partial_data(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState,
                           now: float) -> Decision:
    """Some ready replica did not answer: hold, or grow to what the others already prove."""
    answered = tuple(o for o in snapshot.observations if not o.missing)
    silent = snapshot.ready - len(answered)
    first = snapshot.missing[0] if snapshot.missing else None
    detail = f" ({first.replica}: {first.error})" if first else ""
    lower_bound = 0
    if answered:
        known = FleetSnapshot(replicas=len(answered), ready=len(answered), observations=answered)
        lower_bound = math.ceil(estimate_demand(settings, known, None, now).replicas - 1e-9)
    recommendation = settings.clamp(max(snapshot.replicas, lower_bound))
    # Recorded like any recommendation, so the scale-down window starts again once data returns.
    history = remember(settings, state.history, now, recommendation)
    stabilized = max(snapshot.replicas, stabilize(settings, snapshot.replicas, history, state.since, now))
    desired = settings.clamp(limit_step(snapshot.replicas, stabilized))
    action = f"scaling up to {desired}" if desired > snapshot.replicas else f"holding {desired}"
    return finish(snapshot, state=replace(state, history=history, previous=None), now=now, desired=desired,
                  recommendation=recommendation, reason="MetricsMissing",
                  message=f"{silent} of {snapshot.ready} ready replicas gave no metrics{detail}; "
                          f"never scaling down on missing data: {action}")


def hold(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float, reason: str,
         why: str) -> Decision:
    desired = settings.clamp(snapshot.replicas)
    history = remember(settings, state.history, now, desired)
    return finish(snapshot, state=replace(state, history=history, previous=None), now=now, desired=desired,
                  recommendation=desired, reason=reason, message=f"{why}: holding {desired}")


def finish(snapshot: FleetSnapshot, *, state: PolicyState, now: float, desired: int, recommendation: int,
           reason: str, message: str) -> Decision:
    if desired != snapshot.replicas:
        state = replace(state, last_scale_time=now)
    return Decision(replicas=desired, previous=snapshot.replicas, recommendation=recommendation,
                    queue_depth=queue_depth(snapshot), reason=reason, message=message, state=state)


def queue_depth(snapshot: FleetSnapshot) -> float | None:
    loads = [o.load for o in snapshot.observations if o.load is not None]
    if not loads:
        return None
    return sum(load.waiting for load in loads) / len(loads)


def estimate_demand(settings: PolicySettings, snapshot: FleetSnapshot, previous: RateSample | None,
                    now: float) -> Demand:
    """Replicas the load needs (see the module docstring for the arithmetic)."""
    full = full_replicas(settings, snapshot, previous, now)
    occupancy = settings.target_occupancy
    return Demand(full.replicas / occupancy,
                  f"{full.basis}; at {occupancy:.0%} batch occupancy that is {full.replicas / occupancy:.2f}")


def full_replicas(settings: PolicySettings, snapshot: FleetSnapshot, previous: RateSample | None,
                  now: float) -> Demand:
    """Replicas the load needs when every batch slot is used."""
    loads = [o.load for o in snapshot.observations if o.load is not None]
    waiting = sum(load.waiting for load in loads)
    running = sum(load.running for load in loads)
    slots = settings.batch_limit
    excess = waiting - settings.target_queue_depth * snapshot.ready
    observed = f"{waiting:g} waiting and {running:g} running on {snapshot.ready} ready replicas"
    if excess <= 0:
        return Demand(running / slots, f"{observed}: the queue is within target; "
                                       f"the running requests fill {running / slots:.2f} replicas")
    rates = arrival_rates(snapshot, previous, now)
    if rates is None:
        return Demand((running + excess) / slots,
                      f"{observed}: the queue is above target; before a rate is known, "
                      f"{excess:g} requests above target count as work for full batches: "
                      f"{(running + excess) / slots:.2f} replicas")
    finished, growth = rates
    keep_up = snapshot.ready * (finished + growth) / finished
    drain = excess * snapshot.ready / (finished * DRAIN_SECONDS)
    return Demand(max(running / slots, keep_up + drain),
                  f"{observed}: the queue is above target; {finished + growth:.2f} req/s arrive and "
                  f"{finished / snapshot.ready:.2f} req/s finish per replica, so {keep_up:.2f} replicas keep up "
                  f"and {drain:.2f} more drain {excess:g} queued in {DRAIN_SECONDS:g} s")


def arrival_rates(snapshot: FleetSnapshot, previous: RateSample | None, now: float) -> tuple[float, float] | None:
    """(finished/s, queue growth/s) for the whole fleet, or None without a usable rate.

    Only replicas present in both scrapes count (a new replica has no previous
    counter, a restarted one a smaller one); their rates are scaled up to all
    ready replicas. Fewer finished requests than replicas is no rate, just noise.
    """
    if previous is None or now <= previous.time:
        return None
    before_completed, before_waiting = dict(previous.completed), dict(previous.waiting)
    finished = growth = 0.0
    counted = 0
    for o in snapshot.observations:
        load = o.load
        if load is None or load.completed is None or o.replica not in before_completed:
            continue
        if load.completed < before_completed[o.replica]:
            continue
        finished += load.completed - before_completed[o.replica]
        growth += load.waiting - before_waiting[o.replica]
        counted += 1
    if counted == 0 or finished < counted:
        return None
    elapsed = now - previous.time
    scale = snapshot.ready / counted
    return finished / elapsed * scale, growth / elapsed * scale


def rate_sample(snapshot: FleetSnapshot, now: float) -> RateSample:
    loads = [(o.replica, o.load) for o in snapshot.observations if o.load is not None]
    return RateSample(
        time=now,
        completed=tuple((name, load.completed) for name, load in loads if load.completed is not None),
        waiting=tuple((name, load.waiting) for name, load in loads),
    )


def remember(settings: PolicySettings, history: tuple[tuple[float, int], ...], now: float,
             recommendation: int) -> tuple[tuple[float, int], ...]:
    """The history within the longer window, plus this recommendation."""
    horizon = max(settings.scale_up_window_s, settings.scale_down_window_s)
    return tuple((t, r) for t, r in history if t >= now - horizon) + ((now, recommendation),)


def stabilize(settings: PolicySettings, current: int, history: tuple[tuple[float, int], ...], since: float,
              now: float) -> int:
    """HPA-style: up to the lowest recommendation of the up window, down to the highest of the down window.

    A window not yet watched in full counts the current size as one of its
    recommendations: a restart of the operator is no evidence of a low load.
    """
    up_window = [r for t, r in history if t >= now - settings.scale_up_window_s]
    down_window = [r for t, r in history if t >= now - settings.scale_down_window_s]
    if now - since < settings.scale_up_window_s:
        up_window.append(current)
    if now - since < settings.scale_down_window_s:
        down_window.append(current)
    if min(up_window) > current:
        return min(up_window)
    if max(down_window) < current:
        return max(down_window)
    return current


def limit_step(current: int, desired: int) -> int:
    """At most +max(MIN_UP_STEP, current) and -max(1, current // 2) in one decision."""
    highest = current + max(MIN_UP_STEP, current)
    lowest = current - max(1, current // 2)
    return max(lowest, min(highest, desired))


def explain(settings: PolicySettings, snapshot: FleetSnapshot, recommendation: int, stabilized: int,
            desired: int) -> tuple[str, str]:
    """The reason (CamelCase) and the action, in words."""
    current = snapshot.replicas
    if current > settings.max_replicas or current < settings.min_replicas:
        return "OutsideBounds", (f"scaling {current} -> {desired} to stay within minReplicas "
                                 f"{settings.min_replicas} and maxReplicas {settings.max_replicas}")
    if desired > current:
        return "ScaleUp", f"scaling up {current} -> {desired}" + step_note(stabilized, desired)
    if desired < current:
        return "ScaleDown", (f"for {settings.scale_down_window_s:g} s no more than {stabilized} replicas were "
                             f"needed: scaling down {current} -> {desired}" + step_note(stabilized, desired))
    if recommendation > current:
        if current >= settings.max_replicas:
            return "AtMaxReplicas", f"{recommendation} wanted, holding {current} (maxReplicas)"
        return "StabilizingScaleUp", (f"{recommendation} wanted, holding {current} until the higher "
                                      f"recommendation lasts {settings.scale_up_window_s:g} s")
    if recommendation < current:
        return "StabilizingScaleDown", (f"{recommendation} would do, holding {current} until lower "
                                        f"recommendations last {settings.scale_down_window_s:g} s")
    if snapshot.starting:
        return "WaitingForStartingReplicas", (f"holding {current}: {snapshot.starting} starting replicas "
                                              f"count as capacity on the way")
    return "Steady", f"holding {current}"


def step_note(stabilized: int, desired: int) -> str:
    return "" if stabilized == desired else f" (of {stabilized}: one decision moves a limited step)"
