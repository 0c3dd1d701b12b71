"""The scaling policy: pure (no I/O, no clock). ``decide`` maps what the fleet
reported, plus the state the previous decision returned, to a replica count.

How many replicas the load needs (``estimate_demand``), with B the engine's
batch limit (``--max-num-seqs``), t ``targetQueueDepth`` and o the target
batch occupancy (``TARGET_OCCUPANCY``):

- The signal is the requests in flight: running + waiting, summed over the
  ready replicas. ``in_flight / (B * o)`` replicas hold them with a share
  1 - o of the batch slots to spare. Running alone misses a queue that stays
  under t for ever (a full fleet with a small standing queue); waiting alone
  is zero for any fleet that keeps up (the waiting queue fills only when every
  batch is full), which is why a queue threshold scales down to the minimum and
  back up, over and over.
- A burst reserve on top, for small fleets, sized for the cold start c the
  fleet really has (``PolicySettings.startup_seconds``: the controller hands
  in the measured median pod created -> Ready, the chart's estimate until one
  is measured), with s = min(1, c / ``STARTUP_SECONDS``): spare batch slots
  for ``RESERVE_PER_REQUEST * s`` times the requests in flight, at most
  ``RESERVE_BATCHES * s`` replicas' batches, so the fleet needs
  ``max(in_flight / (B * o), (in_flight + reserve) / B)``. A burst has a size
  of its own (a client's batch job, a launch), not a share of the load; a share
  of a small load is a few slots, and a burst larger than the spare slots waits
  a whole cold start. What the reserve buys is the wait of the requests that
  arrive before a replica asked for at the burst is Ready, so it is
  proportional to the cold start: the constants (1.5 x in flight, at most 2.5
  batches) are the ones chosen for ``STARTUP_SECONDS`` = 180 s, the
  simulator's default cold start; 60 s keeps a third of that, 20 s a ninth,
  no cold start none. Above 180 s the reserve stays at its 180 s size (the
  share is capped at 1): longer cold starts (a node to provision) were not
  simulated, and before the scaling every fleet kept the 180 s reserve.
  The reserve grows with the load (an idle fleet keeps none and goes to
  minReplicas) up to its cap, above which the occupancy's share is the
  larger spare. In the fleet simulator at 180 s it took the
  default from 0.82-1.05x to 0.82-1.02x the same-signal peer's GPU-hours at
  its waits (ideal routing; benchmarks/fleet-sim/previous.md). Where the
  scaled reserve leaves us against a tuned peer at 180, 60 and 20 s, under
  Service and least-in-flight routing: benchmarks/fleet-sim/results.md (at
  short cold starts the reserve is small and the policy is about as cheap
  as the tuned peer, not cheaper).
- When the queue is above t per ready replica the fleet is saturated, and the
  running count only says "all of it". Then the rates between two decisions
  do: requests finished per second (c) and queue growth per second (g) give
  the arrival rate c + g and a replica's throughput c / ready, so the fleet
  needs ``ready * (c + g) / c`` full replicas to keep up, plus enough to drain
  the queue above target within ``DRAIN_SECONDS``, divided by o.
- Ahead of a rising load (within target): the in-flight count's growth over the last
  ``TREND_SECONDS`` (least squares, minus two standard errors so that noise
  adds nothing), times the cold start c (``startup_seconds``, the time a new
  replica takes to be Ready; ``STARTUP_SECONDS`` = 180 s until the controller
  knows better), is added as load that will be there when a replica asked
  for now can serve it.

Replicas already asked for count as capacity on the way: the estimate is
compared with all replicas asked for, ready or starting, so the queue that
piles up during a cold start does not ask for them again.

Then, like the HorizontalPodAutoscaler's stabilization: scale up to the
*lowest* recommendation of the last ``scaleUpStabilizationSeconds`` (0: at
once), scale down to the *highest* of the last
``scaleDownStabilizationSeconds``, and never down before that window has been
watched in full (after a restart or a gap in the metrics). Two dampers against
reversals (a scale-up soon undone, or the other way round):

- hysteresis: the scale-down window holds recommendations at a lower occupancy
  ``o - DOWN_BAND`` (the need above, times ``o / (o - DOWN_BAND)``): a replica
  goes only when the load fits the smaller fleet with room to spare, so the
  smaller fleet does not ask for it back at once;
- dwell: a scale-up while the queue is within target (headroom, not a
  backlog) needs two decisions in a row asking for it, so one noisy scrape
  does not buy a replica that the window gives back 5 minutes later.
  A queue above target scales up at once.

One decision moves at most ``max(MIN_UP_STEP, replicas)`` up (the HPA's
default scale-up policy: +100 % or +4 pods) and at most half the replicas
down; the result is always within ``minReplicas..maxReplicas``.

Scale to zero (``minReplicas`` 0, only behind the router, which holds requests
while no replica is ready): after ``scale_to_zero_after_s`` with no request in
flight and none held, every replica goes at once (that window is the
stabilization; until then the fleet keeps at least one). At zero the signal is
the routers' held count (``FleetSnapshot.held``), which exists with no engine to
scrape: the first held request wakes ``ceil(held / (B * o))`` replicas. A
router that gives no metrics counts as busy: the fleet never goes to zero on
missing data, and at zero it wakes one replica rather than leave a request
held unseen. Except before the routers were ever read (a fleet created or
autoscaled at zero, or an operator restarted, while its router pods start):
with no router pod ready the Service has no endpoint, so no request can be
held, and the fleet stays at zero (``WaitingForRouters``) instead of waking a
replica for a cold start and the idle window.

A replica that is loading or warming up is never scaled down: the ReplicaSet
removes unready pods first, so a scale-down while one starts would throw its
cold start away (``WaitingForStartingReplicas``); the fleet holds its size
until the replicas asked for are Ready, then decides again. Only a fleet above
``maxReplicas`` shrinks at once.

Missing data never scales down: if any ready replica's scrape is missing, the
fleet keeps its size, and may only grow to what the replicas that answered
already prove is needed (their queues are a lower bound of the fleet's).

The fleet simulator (benchmarks/fleet-sim, ``make bench-fleet``) measures
this policy against KEDA on the same signal, tuned per trace on tuning seeds
and scored on fresh ones, at 180, 60 and 20 s cold starts. The constants
(TARGET_OCCUPANCY, DOWN_BAND, TREND_SECONDS, the one-decision dwell, the
reserve's two constants at 180 s and their proportionality to the cold
start) are fixed there, chosen on tuning seeds only.

The constants: ``MIN_UP_STEP`` (4) and the +100 % per decision are the HPA's
default scale-up policy; ``DRAIN_SECONDS`` (60) is how fast a queue above
target is planned to drain; ``TARGET_OCCUPANCY`` (0.75) the share of batch
slots the fleet aims to fill; ``DOWN_BAND`` (0.1) the hysteresis below it;
``TREND_SECONDS`` (300) the window the growth is read over;
``STARTUP_SECONDS`` (180) both the cold start planned for when none is
known and the one ``RESERVE_PER_REQUEST`` (1.5) and ``RESERVE_BATCHES`` (2.5)
are set for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from modelfleet.api.spec import AutoscalingSpec

from .observations import Observation, RouterReading

MIN_UP_STEP = 4
DRAIN_SECONDS = 60.0
TARGET_OCCUPANCY = 0.75
DOWN_BAND = 0.1
TREND_SECONDS = 300.0
STARTUP_SECONDS = 180.0  # the cold start planned for when none is known; the reserve's reference
RESERVE_PER_REQUEST = 1.5  # spare slots per request in flight, at a STARTUP_SECONDS cold start
RESERVE_BATCHES = 2.5  # the reserve's cap in batches, at a STARTUP_SECONDS cold start
SCALE_TO_ZERO_AFTER_SECONDS = 600.0  # the API's default (autoscaling.scaleToZeroAfterSeconds)


@dataclass(frozen=True)
class PolicySettings:
    min_replicas: int
    max_replicas: int
    target_queue_depth: float
    scale_up_window_s: float
    scale_down_window_s: float
    batch_limit: int
    target_occupancy: float = TARGET_OCCUPANCY
    startup_seconds: float = STARTUP_SECONDS
    reserve_per_request: float = RESERVE_PER_REQUEST
    reserve_batches: float = RESERVE_BATCHES
    scale_to_zero_after_s: float = SCALE_TO_ZERO_AFTER_SECONDS  # with min_replicas 0: idle this long, then zero

    @classmethod
    def from_spec(cls, spec: AutoscalingSpec, batch_limit: int,
                  target_occupancy: float = TARGET_OCCUPANCY,
                  startup_seconds: float = STARTUP_SECONDS) -> PolicySettings:
        """``batch_limit``: sequences one replica runs at once (the engine's --max-num-seqs);
        ``target_occupancy``: the share of those slots the fleet aims to fill;
        ``startup_seconds``: the cold start to plan for (pod created -> Ready): the measured median
        once there is one, the chart's estimate until then. The look-ahead and the burst reserve
        scale with it."""
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            target_queue_depth=spec.target_queue_depth,
            scale_up_window_s=spec.scale_up_stabilization_seconds,
            scale_down_window_s=spec.scale_down_stabilization_seconds,
            batch_limit=batch_limit,
            target_occupancy=target_occupancy,
            startup_seconds=startup_seconds,
            scale_to_zero_after_s=spec.scale_to_zero_after_seconds,
        )

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True)
class FleetSnapshot:
    """``replicas`` asked for now, ``ready`` of them serving; one observation per ready replica; ``held``:
    requests the routers hold because no replica is ready (summed over the router pods), None when a
    router gave no metrics; ``routers_ready``: the ready router pods read for it (None: routers not read)."""

    replicas: int
    ready: int
    observations: tuple[Observation, ...]
    held: float | None = 0.0
    routers_ready: int | None = None

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
    # (time, recommendation, keep), within the longer window: what each decision asked for, and
    # what it would keep at the lower scale-down occupancy (hysteresis); the up window reads the
    # first, the down window the second.
    history: tuple[tuple[float, int, int], ...] = ()
    previous: RateSample | None = None
    last_scale_time: float | None = None
    in_flight: tuple[tuple[float, float], ...] = ()  # (time, running + waiting), within TREND_SECONDS
    asked_up: bool = False  # the previous decision recommended more replicas than there were
    last_busy: float | None = None  # when a request was last seen in flight or held (or data was missing)
    routers_seen: bool = False  # the routers' held count has been read at least once


@dataclass(frozen=True)
class Demand:
    replicas: float  # replicas the load needs (fractional), at the target occupancy
    basis: str  # the numbers, for a person
    saturated: bool = False  # the queue is above target
    keep: float = 0.0  # replicas the load needs at the lower scale-down occupancy (hysteresis)


@dataclass(frozen=True)
class Decision:
    replicas: int  # what to set
    previous: int  # what was set
    recommendation: int  # what the load asked for, before stabilization, step and bounds
    queue_depth: float | None  # requests waiting per ready replica
    reason: str  # one CamelCase word, for events
    message: str  # the numbers and the why, for a person
    state: PolicyState
    router: RouterReading | None = None  # what the routers said (minReplicas 0), for status

    @property
    def changed(self) -> bool:
        return self.replicas != self.previous


def decide(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float) -> Decision:
    """The replica count for ``snapshot`` at time ``now`` (seconds, any monotonic origin)."""
    if state.since is None:
        state = replace(state, since=now)
    if snapshot.routers_ready and snapshot.held is not None:
        state = replace(state, routers_seen=True)
    if snapshot.replicas == 0 and settings.min_replicas == 0:
        return decide_at_zero(settings, snapshot, state, now)
    if snapshot.ready == 0:
        held = f"; {snapshot.held:g} requests held by the router" if snapshot.held else ""
        if snapshot.held is None or snapshot.held > 0:  # requests wait for the replicas starting: busy
            state = replace(state, last_busy=now)
        return hold(settings, snapshot, state, now, "NoReadyReplicas",
                    f"no replica is ready yet ({snapshot.starting} starting{held}), so there is no queue to read")
    if not snapshot.complete:
        return decide_on_partial_data(settings, snapshot, state, now)
    state = replace(state, last_busy=busy_until(snapshot, state, now))
    if idle_long_enough(settings, state, now) and snapshot.starting == 0:
        return scale_to_zero(settings, snapshot, state, now)
    samples = remember_in_flight(state.in_flight, now, in_flight(snapshot))
    demand = estimate_demand(settings, snapshot, state.previous, now, samples)
    floor = 1 if settings.min_replicas == 0 else 0  # zero comes only from the idle window
    recommendation = max(floor, settings.clamp(math.ceil(demand.replicas - 1e-9)))
    keep = max(floor, settings.clamp(max(recommendation, math.ceil(demand.keep - 1e-9))))
    history = remember(settings, state.history, now, recommendation, keep)
    stabilized = stabilize(settings, snapshot.replicas, history, state.since, now)
    dwell = stabilized > snapshot.replicas and not demand.saturated and not state.asked_up
    if dwell:
        stabilized = snapshot.replicas  # headroom waits for a second decision asking for it
    desired = settings.clamp(limit_step(snapshot.replicas, stabilized))
    loading = desired < snapshot.replicas <= settings.max_replicas and snapshot.starting > 0
    if loading:
        desired = snapshot.replicas  # the ReplicaSet removes unready pods first: a loading replica would go
    new_state = replace(state, history=history, previous=rate_sample(snapshot, now), in_flight=samples,
                        asked_up=recommendation > snapshot.replicas)
    reason, why = explain(settings, snapshot, recommendation, stabilized, desired, dwell, loading)
    return finish(snapshot, state=new_state, now=now, desired=desired, recommendation=recommendation,
                  reason=reason, message=f"{demand.basis}; {why}")


def decide_at_zero(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float) -> Decision:
    """No replica is asked for: wake on the first request the router holds, and on missing router metrics
    (a request may be held where nobody can see it; one replica is the safe side); else stay idle."""
    history = remember(settings, state.history, now, 0, 0)
    state = replace(state, history=history, previous=None, in_flight=(), asked_up=False)
    if snapshot.held is None and snapshot.routers_ready == 0 and not state.routers_seen:
        return finish(snapshot, state=state, now=now, desired=0, recommendation=0, reason="WaitingForRouters",
                      message="scaled to zero, and no router pod has been ready yet: the Service has no endpoint, "
                              "so no request can be held; staying at zero until a router is ready")
    if snapshot.held is None:
        return finish(snapshot, state=replace(state, last_busy=now), now=now, desired=settings.clamp(1),
                      recommendation=1, reason="MetricsMissing",
                      message="scaled to zero, and a router gave no metrics, so a request may be held unseen: "
                              "waking one replica (never staying at zero on missing data)")
    if snapshot.held > 0:
        wanted = settings.clamp(max(1, math.ceil(snapshot.held / (settings.batch_limit * settings.target_occupancy))))
        return finish(snapshot, state=replace(state, last_busy=now), now=now, desired=wanted,
                      recommendation=wanted, reason="WakeUp",
                      message=f"scaled to zero, and the router holds {snapshot.held:g} requests: waking "
                              f"{wanted} replica(s); the requests wait until one is Ready")
    return finish(snapshot, state=state, now=now, desired=0, recommendation=0, reason="Idle",
                  message="scaled to zero and no request is held: idle until the router holds one")


def busy_until(snapshot: FleetSnapshot, state: PolicyState, now: float) -> float | None:
    """When the fleet was last seen busy: now if a request is in flight or held, or the routers' count is
    unknown (missing data never counts as idle)."""
    if in_flight(snapshot) > 0 or snapshot.held is None or snapshot.held > 0:
        return now
    return state.last_busy


def idle_long_enough(settings: PolicySettings, state: PolicyState, now: float) -> bool:
    """minReplicas 0 and no request in flight or held for ``scale_to_zero_after_s`` (counted from the first
    decision when none was ever seen: a restart of the operator is no evidence of an idle fleet)."""
    if settings.min_replicas != 0:
        return False
    quiet_since = state.last_busy if state.last_busy is not None else state.since
    return quiet_since is not None and now - quiet_since >= settings.scale_to_zero_after_s


def scale_to_zero(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float) -> Decision:
    """The idle window has passed: every replica goes (the window itself is the stabilization)."""
    quiet_since = state.last_busy if state.last_busy is not None else state.since
    idle = now - (quiet_since if quiet_since is not None else now)
    history = remember(settings, state.history, now, 0, 0)
    return finish(snapshot, state=replace(state, history=history, previous=None, in_flight=(), asked_up=False),
                  now=now, desired=0, recommendation=0, reason="ScaleToZero",
                  message=f"no request in flight or held for {idle:.0f} s (scaleToZeroAfterSeconds "
                          f"{settings.scale_to_zero_after_s:g}): scaling {snapshot.replicas} -> 0; the router "
                          "holds the next request and wakes a replica")


def in_flight(snapshot: FleetSnapshot) -> float:
    return sum(o.load.running + o.load.waiting for o in snapshot.observations if o.load is not None)


def remember_in_flight(samples: tuple[tuple[float, float], ...], now: float,
                       value: float) -> tuple[tuple[float, float], ...]:
    return tuple((t, v) for t, v in samples if now - TREND_SECONDS <= t < now) + ((now, value),)


def growth(samples: tuple[tuple[float, float], ...]) -> float:
    """In-flight requests gained per second: the least-squares slope minus two standard errors, >= 0.

    Needs four samples over at least a minute; a noisy or flat series gives 0."""
    if len(samples) < 4 or samples[-1][0] - samples[0][0] < 60:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in samples)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / sxx
    residual = sum((v - mean_v - slope * (t - mean_t)) ** 2 for t, v in samples)
    stderr = math.sqrt(residual / (n - 2) / sxx)
    return max(0.0, slope - 2 * stderr)


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
    history = remember(settings, state.history, now, recommendation, recommendation)
    stabilized = max(snapshot.replicas, stabilize(settings, snapshot.replicas, history, state.since, now))
    desired = settings.clamp(limit_step(snapshot.replicas, stabilized))
    action = f"scaling up to {desired}" if desired > snapshot.replicas else f"holding {desired}"
    return finish(snapshot, state=replace(state, history=history, previous=None, last_busy=now), now=now,
                  desired=desired, recommendation=recommendation, reason="MetricsMissing",
                  message=f"{silent} of {snapshot.ready} ready replicas gave no metrics{detail}; "
                          f"never scaling down on missing data: {action}")


def hold(settings: PolicySettings, snapshot: FleetSnapshot, state: PolicyState, now: float, reason: str,
         why: str) -> Decision:
    desired = settings.clamp(snapshot.replicas)
    history = remember(settings, state.history, now, desired, desired)
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
                    now: float, samples: tuple[tuple[float, float], ...] = ()) -> Demand:
    """Replicas the load needs (see the module docstring for the arithmetic)."""
    full = full_replicas(settings, snapshot, previous, now)
    occupancy = settings.target_occupancy
    # Saturated, the arrival rate already holds the growth; the queue's own growth is the deficit.
    ahead = 0.0 if full.saturated else growth(samples) * settings.startup_seconds / settings.batch_limit
    load = full.replicas + ahead
    reserve = burst_reserve(settings, load)
    needed = max(load / occupancy, load + reserve)
    keep = needed * occupancy / max(0.05, occupancy - DOWN_BAND)
    trend = (f"; rising by {ahead * settings.batch_limit:.0f} in flight over the {settings.startup_seconds:g} s "
             f"a replica takes to start" if ahead > 0 else "")
    if load + reserve > load / occupancy:
        sizing = (f"with a burst reserve of {reserve * settings.batch_limit:.0f} spare batch slots "
                  f"that is {needed:.2f}")
    else:
        sizing = f"at {occupancy:.0%} batch occupancy that is {needed:.2f}"
    return Demand(needed, f"{full.basis}{trend}; {sizing}", saturated=full.saturated, keep=keep)


def cold_start_share(settings: PolicySettings) -> float:
    """The cold start to plan for, in units of ``STARTUP_SECONDS`` (the one the reserve's constants are
    set for): 1/3 at 60 s, 1 at 180 s and above (longer cold starts keep the 180 s reserve: the
    simulator measured none, and the policy before this scaling kept it for every cold start)."""
    return min(1.0, max(0.0, settings.startup_seconds) / STARTUP_SECONDS)


def burst_reserve(settings: PolicySettings, load: float) -> float:
    """Spare replicas' worth of batch slots for a burst: grows with the load (none when idle) and
    with the cold start (``cold_start_share``), at most ``reserve_batches`` at a cold start of
    ``STARTUP_SECONDS`` or more."""
    share = cold_start_share(settings)
    return min(settings.reserve_batches * share, settings.reserve_per_request * share * load)


def full_replicas(settings: PolicySettings, snapshot: FleetSnapshot, previous: RateSample | None,
                  now: float) -> Demand:
    """Replicas the load needs when every batch slot is used."""
    loads = [o.load for o in snapshot.observations if o.load is not None]
    waiting = sum(load.waiting for load in loads)
    running = sum(load.running for load in loads)
    slots = settings.batch_limit
    excess = waiting - settings.target_queue_depth * snapshot.ready
    observed = f"{waiting:g} waiting and {running:g} running on {snapshot.ready} ready replicas"
    flight = running + waiting
    if excess <= 0:
        return Demand(flight / slots, f"{observed}: the queue is within target; "
                                      f"the requests in flight fill {flight / slots:.2f} replicas")
    rates = arrival_rates(snapshot, previous, now)
    if rates is None:
        return Demand((running + excess) / slots,
                      f"{observed}: the queue is above target; before a rate is known, "
                      f"{excess:g} requests above target count as work for full batches: "
                      f"{(running + excess) / slots:.2f} replicas", saturated=True)
    finished, growth_rate = rates
    keep_up = snapshot.ready * (finished + growth_rate) / finished
    drain = excess * snapshot.ready / (finished * DRAIN_SECONDS)
    return Demand(max(running / slots, keep_up + drain),
                  f"{observed}: the queue is above target; {finished + growth_rate:.2f} req/s arrive and "
                  f"{finished / snapshot.ready:.2f} req/s finish per replica, so {keep_up:.2f} replicas keep up "
                  f"and {drain:.2f} more drain {excess:g} queued in {DRAIN_SECONDS:g} s", saturated=True)


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


def remember(settings: PolicySettings, history: tuple[tuple[float, int, int], ...], now: float,
             recommendation: int, keep: int) -> tuple[tuple[float, int, int], ...]:
    """The history within the longer window, plus this decision's recommendation and keep."""
    horizon = max(settings.scale_up_window_s, settings.scale_down_window_s)
    return tuple(entry for entry in history if entry[0] >= now - horizon) + ((now, recommendation, keep),)


def stabilize(settings: PolicySettings, current: int, history: tuple[tuple[float, int, int], ...],
              since: float | None, now: float) -> int:
    """HPA-style: up to the lowest recommendation of the up window, down to the highest keep of the
    down window (the replicas the lower scale-down occupancy needs: hysteresis).

    A window not yet watched in full counts the current size as one of its
    recommendations: a restart of the operator is no evidence of a low load.
    ``since`` None: this is the first decision, the windows start now.
    """
    if since is None:
        since = now
    up_window = [up for t, up, _ in history if t >= now - settings.scale_up_window_s]
    down_window = [keep for t, _, keep in history if t >= now - settings.scale_down_window_s]
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
            desired: int, dwell: bool = False, loading: bool = False) -> tuple[str, str]:
    """The reason (CamelCase) and the action, in words."""
    current = snapshot.replicas
    if current > settings.max_replicas or current < settings.min_replicas:
        return "OutsideBounds", (f"scaling {current} -> {desired} to stay within minReplicas "
                                 f"{settings.min_replicas} and maxReplicas {settings.max_replicas}")
    if loading:
        return "WaitingForStartingReplicas", (
            f"{stabilized} would do, holding {current}: {snapshot.starting} replica(s) are still loading or warming "
            "up, and a scale-down removes unready pods first, which would throw their cold start away")
    if desired > current:
        return "ScaleUp", f"scaling up {current} -> {desired}" + step_note(stabilized, desired)
    if desired < current:
        return "ScaleDown", (f"for {settings.scale_down_window_s:g} s no more than {stabilized} replicas were "
                             f"needed: scaling down {current} -> {desired}" + step_note(stabilized, desired))
    if recommendation > current:
        if dwell and current < settings.max_replicas:
            return "ConfirmingScaleUp", (f"{recommendation} wanted for headroom (the queue is within target), "
                                         f"holding {current} until the next decision asks for it too")
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
