"""One model's fleet behind a router that holds requests while no replica is ready, and the policies that
may take it to zero: modelfleet's (minReplicas 0 or 1) and a KEDA HTTP add-on-like peer.

The router's hold (``HoldingFleet``), as modelfleet's router does it (docs/router.md,
operator/modelfleet/runtime/router/pool.py, ``RouterArgs``):
- while no replica is ready and serving, a request is *held*: at most ``max_held`` at once (more are
  refused, 429) and for at most ``max_hold_seconds`` (then refused, 503); a refused request is never
  served and its wait is not counted (``Result``'s ``refused``);
- when a replica turns ready the router learns it ``release_lag`` seconds later (our router reads the
  engines' headless Service in DNS every second, and CoreDNS serves those records with a 5 s TTL: a
  mean of 3 s, at worst 6; the peer's interceptor watches EndpointSlices and dials the Service
  until kube-proxy has the rule: about 1 s) and sends every held request on, as it sends any request
  (least in flight for our router, a random replica for the peer's Service);
- the held count is what the policy sees while no replica is ready (``FleetSnapshot.held``).

A *wake* is a scale-up from zero replicas; a *hold episode* starts when a request is held while none
is held, and its first request is "the first request after a wake" when the fleet was at zero.

The simulation skips ticks in which nothing can happen (no request running, queued or held, no
replica starting, no arrival, decision or scrape due): the same results as ticking through them,
several times faster on a day that is idle most of the time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import assumptions as A
import numpy as np
from fleet import Fleet, FleetView, Result
from policies import External
from traces import Trace

from modelfleet.autoscale.observations import EngineLoad, Observation
from modelfleet.autoscale.policy import (
    SCALE_TO_ZERO_AFTER_SECONDS,
    STARTUP_SECONDS,
    FleetSnapshot,
    PolicySettings,
    PolicyState,
    decide,
)

# modelfleet's router defaults (RouterArgs: --max-held 1000, --max-hold-seconds 300).
MAX_HELD = 1000
MAX_HOLD_SECONDS = 300.0
# When a router learns that a replica is ready, after it is (see the module docstring).
OUR_RELEASE_LAG = 3.0
PEER_RELEASE_LAG = 1.0


@dataclass(frozen=True)
class HeldFleetView(FleetView):
    """FleetView plus the router's held count (requests waiting for a ready replica)."""

    held: int = 0


@dataclass
class SparseResult:
    """One model's day: the fleet's Result plus what the hold did."""

    result: Result
    refused: int = 0  # held past max_hold_seconds or beyond max_held
    wakes: int = 0  # scale-ups from zero replicas
    first_waits: list[float] = field(default_factory=list)  # the first held request's wait, each wake
    session_first_waits: list[float] = field(default_factory=list)  # each session's first request's wait


class HoldingFleet(Fleet):
    """A Fleet whose requests go through a router that holds them while no replica is ready."""

    def __init__(self, trace: Trace, policy, *, routing: str, cold_start: float, seed: int, min_replicas: int,
                 release_lag: float, max_held: int = MAX_HELD, max_hold: float = MAX_HOLD_SECONDS):
        super().__init__(trace, policy, min_replicas, routing=routing, cold_start=cold_start, seed=seed)
        self.min_replicas, self.release_lag = min_replicas, release_lag
        self.max_held, self.max_hold = max_held, max_hold
        self.refused: list[int] = []
        self.wakes = 0
        self.episode_first: list[int] = []  # the first request of each hold episode that began at zero
        # when the router's view of the ready replicas last went from none to some (the minReplicas-1 fleet's
        # replica has been ready since before the day began)
        self.ready_since: float | None = -math.inf if min_replicas else None

    # --- the router's hold --------------------------------------------------------------------------
    def router_sees_ready(self, t: float) -> bool:
        serving = bool(self.serving())
        if not serving:
            self.ready_since = None
        elif self.ready_since is None:
            self.ready_since = min(r.ready_at for r in self.serving())
        return serving and self.ready_since is not None and t >= self.ready_since + self.release_lag

    def hold(self, requests: list[int], t: float) -> None:
        """Hold ``requests`` (arrival order); past ``max_held`` they are refused at once."""
        for request in requests:
            if len(self.pending) >= self.max_held:
                self.refused.append(request)
                continue
            if not self.pending and not self.active():
                self.episode_first.append(request)
            self.pending.append(request)

    def expire(self, t: float) -> None:
        """Refuse the held requests that waited ``max_hold`` (the router's 503)."""
        arrivals = self.trace.arrivals
        while self.pending and t - arrivals[self.pending[0]] >= self.max_hold:
            self.refused.append(self.pending.pop(0))

    def held(self) -> int:
        return len(self.pending)

    # --- the policy ---------------------------------------------------------------------------------
    def view(self, now: float) -> HeldFleetView:
        base = super().view(now)
        return HeldFleetView(base.now, base.asked, base.starting, base.ready, base.waiting, held=self.held())

    def decide(self, now: float) -> None:
        live = self.view(now)
        self.timeline.append((now, live.asked, len(live.ready), live.waiting))
        desired = max(self.min_replicas, min(A.MAX_REPLICAS, int(self.policy.decide(live))))
        if desired != live.asked:
            self.moves.append(desired - live.asked)
            if live.asked == 0:
                self.wakes += 1
        if desired > live.asked:
            for _ in range(desired - live.asked):
                self.add_replica(now)
        elif desired < live.asked:
            self.remove(live.asked - desired, now)

    # --- the clock ----------------------------------------------------------------------------------
    def idle(self) -> bool:
        return not (self.pending or self.local_total or len(self.r_req) or any(
            not r.ready and not r.draining for r in self.replicas))

    def next_event(self, t: float, i: int, next_policy: float, next_scrape: float) -> tuple[float, float]:
        """When the fleet is idle: the first tick at or after ``t`` at which something can happen, and the
        policy's next decision time. A policy with ``next_change`` says when its answer can next differ
        while no request comes (its decisions before that are skipped, and the schedule moves with them)."""
        arrivals = self.trace.arrivals
        arrival = float(arrivals[i]) if i < len(arrivals) else math.inf
        policy_due = next_policy
        change = getattr(self.policy, "next_change", None)
        if change is not None and next_policy <= t + 1:
            policy_due = max(next_policy, min(change(len(self.active())), arrival))
        due = min(policy_due, next_scrape if next_scrape else t, arrival)
        jump = max(t, float(math.floor(due)))
        if change is not None and policy_due > next_policy:
            next_policy = max(next_policy, jump)
        return jump, next_policy

    def arrive(self, new: list[int], t: float, end: float) -> None:
        """Through the router: routed once it sees a ready replica (the held ones first), else held."""
        if self.router_sees_ready(t):
            if new or self.pending:
                self.route(new)  # route() sends the held requests first, in arrival order
        else:
            self.hold(new, t)
            self.expire(end)

    def skip_idle(self, t: float, i: int, next_policy: float, next_scrape: float) -> tuple[float, float]:
        if t < self.trace.duration and self.idle():
            return self.next_event(t, i, next_policy, next_scrape)
        return t, next_policy

    def route(self, requests: list[int]) -> None:
        if not self.serving():  # never here: arrive routes only when the router sees a ready replica
            raise AssertionError("route() with no serving replica")
        super().route(requests)

    def outcome(self) -> SparseResult:
        result = self.run()
        refused = set(self.refused)
        for request in refused:
            result.waits[request] = np.nan
        first = [float(result.waits[r]) for r in self.episode_first if r not in refused]
        starts = np.searchsorted(self.trace.arrivals, np.asarray(self.trace.bursts))
        session_first = [float(result.waits[k]) for k in starts if k < len(self.trace.arrivals)
                         and k not in refused]
        return SparseResult(result, len(refused), self.wakes, first, session_first)


# --- the policies -----------------------------------------------------------------------------------
def observations(view: FleetView) -> tuple[Observation, ...]:
    return tuple(Observation(f"replica-{r.id}", EngineLoad(waiting=r.waiting, running=r.running,
                                                           completed=r.completed)) for r in view.ready)


class OursHeld:
    """modelfleet's policy (operator/modelfleet/autoscale/policy.py, unchanged) with ``min_replicas`` 0 or 1
    and ``scaleToZeroAfterSeconds``, handed the router's held count, as the operator runs it: every 15 s
    (the autoscaling round, ``MODELFLEET_AUTOSCALE_SECONDS``), and every second for a fleet at zero (the
    wake loop, ``MODELFLEET_WAKE_SECONDS``: controller/loops.py ``wake_forever``)."""

    interval = 1.0
    round_seconds = 15.0
    family = "modelfleet"

    def __init__(self, min_replicas: int, idle_seconds: float = SCALE_TO_ZERO_AFTER_SECONDS,
                 startup_seconds: float = STARTUP_SECONDS):
        self.knob = f"minReplicas {min_replicas}" + (f", scaleToZeroAfterSeconds {idle_seconds:g}"
                                                      if min_replicas == 0 else "")
        self.name = f"modelfleet, {self.knob}"
        self.settings = PolicySettings(min_replicas=min_replicas, max_replicas=A.MAX_REPLICAS,
                                       target_queue_depth=4.0, scale_up_window_s=0, scale_down_window_s=300,
                                       batch_limit=A.BATCH_LIMIT, startup_seconds=startup_seconds,
                                       scale_to_zero_after_s=idle_seconds)
        self.state = PolicyState()
        self.next_round = 0.0

    def next_change(self, asked: int) -> float:
        """With no request in flight or held: at zero the answer never changes (Idle); else at the next round."""
        return math.inf if asked == 0 else self.next_round

    def decide(self, view: FleetView) -> int:
        if view.asked > 0:
            if view.now < self.next_round:
                return view.asked  # between rounds only the fleets at zero are looked at (the wake loop)
            self.next_round = view.now + self.round_seconds
        held = float(getattr(view, "held", 0))
        snapshot = FleetSnapshot(replicas=view.asked, ready=len(view.ready), observations=observations(view),
                                 held=held)
        decision = decide(self.settings, snapshot, self.state, view.now)
        self.state = decision.state
        return decision.replicas


class KedaHttp(External):
    """A KEDA HTTP add-on-like peer (kedacore/http-add-on, read at 59b2f6a), configured as its docs say.

    - The signal: the interceptor counts a request from the moment it enters until its answer is sent
      (interceptor/middleware/counting.go wraps the endpoint resolver, so a held request counts);
      the scaler reads the interceptors every 500 ms (KEDA_HTTP_QUEUE_TICK_DURATION) and reports that
      *concurrency*: here held + running + waiting on the ready replicas, read live.
    - 0 -> 1: the ScaledObject's trigger is ``external-push`` (pkg/k8s/scaledobject.go); the scaler pushes
      IsActive (concurrency > 0, scaler/handlers.go) every 200 ms (KEDA_HTTP_SCALER_STREAM_INTERVAL_MS)
      and KEDA scales an inactive target at zero to one replica on an active push: within a second of
      the first held request (this policy decides every second).
    - 1 -> 0: KEDA scales to zero when no push was active for the ScaledObject's cooldownPeriod, which
      the HTTPScaledObject's ``scaledownPeriod`` sets (default 300 s,
      operator/apis/http/v1alpha1/httpscaledobject_types.go).
    - 1 -> N: the HPA under it, on the external metric with AverageValue ``targetValue``
      (scalingMetric.concurrency.targetValue, default 100; targetPendingRequests, deprecated, the
      same), at its 15 s sync, 10 % tolerance, default behavior (policies.Hpa), minReplicas 1.
      The HPA does not run at zero.
    """

    family = "KEDA HTTP add-on"
    interval = 1.0
    via_prometheus = False
    hpa_sync = 15.0

    def __init__(self, target: float = 100.0, scaledown_period: float = 300.0):
        super().__init__(target)
        self.scaledown_period = scaledown_period
        self.knob = f"scaledownPeriod {scaledown_period:g}, targetValue {target:g}"
        self.name = f"KEDA HTTP add-on, {self.knob}"
        self.last_active: float | None = None
        self.next_sync = 0.0

    def value(self, view: FleetView) -> float:
        return float(getattr(view, "held", 0)) + sum(r.running + r.waiting for r in view.ready)

    def next_change(self, asked: int) -> float:
        """With no request in flight or held: when a decision can next differ from the last one (at zero,
        never; else the HPA's next sync or the end of the cooldown, whichever is first)."""
        if asked == 0:
            return math.inf
        quiet_since = self.last_active if self.last_active is not None else -math.inf
        return min(self.next_sync, quiet_since + self.scaledown_period)

    def decide(self, view: FleetView) -> int:
        concurrency = self.value(view)
        if concurrency > 0:
            self.last_active = view.now
        if view.asked == 0:
            return 1 if concurrency > 0 else 0
        quiet_since = self.last_active if self.last_active is not None else view.now
        if self.last_active is None:
            self.last_active = view.now
        if concurrency == 0 and view.now - quiet_since >= self.scaledown_period:
            self.history.clear()
            return 0
        if view.now < self.next_sync:
            return view.asked
        self.next_sync = view.now + self.hpa_sync
        return super().decide(view)


def simulate_held(trace: Trace, policy, *, min_replicas: int, routing: str, release_lag: float,
                  cold_start: float = A.COLD_START_SECONDS, seed: int = 0) -> SparseResult:
    fleet = HoldingFleet(trace, policy, routing=routing, cold_start=cold_start, seed=seed,
                         min_replicas=min_replicas, release_lag=release_lag)
    return fleet.outcome()

