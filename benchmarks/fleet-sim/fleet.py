"""A discrete-event simulation of a fleet of engine replicas behind one load balancer.

Model (see README for why each choice):
- A replica has BATCH_LIMIT slots; a request holds one slot for its service
  time. The load balancer sends a request to the ready replica with the
  fewest running requests if one has a free slot; otherwise it waits in one
  FIFO queue (an ideal least-outstanding-requests balancer: no replica idles
  while another has a queue), and each replica reports an equal share of it.
- A replica created at t is Ready at t + COLD_START_SECONDS and is billed
  from t. A replica removed while starting goes at once; a ready one stops
  taking requests, finishes its running ones, and is billed until then.
  Starting replicas are removed first (newest first), then the least busy.
- Every policy.interval seconds the policy sees the fleet (``FleetView``) and
  returns the replica count it wants.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

import assumptions as A
from traces import Trace

COMPLETE, READY, TICK = 0, 1, 2


@dataclass(eq=False)
class Replica:
    id: int
    created: float
    ready: bool = False
    draining: bool = False
    gone_at: float | None = None
    running: int = 0
    completed: int = 0
    busy_since: float | None = None  # when running last went from 0 to 1
    busy_total: float = 0.0

    def busy_seconds(self, now: float) -> float:
        return self.busy_total + (now - self.busy_since if self.busy_since is not None else 0.0)


@dataclass(frozen=True)
class FleetView:
    """What a policy may look at: replicas asked for, the ready ones, and the queue."""

    now: float
    asked: int
    starting: int
    ready: tuple[Replica, ...]
    waiting: int


@dataclass
class Result:
    trace: str
    policy: str
    gpu_hours: float
    waits: np.ndarray
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)  # (t, asked, ready, waiting)


class Fleet:
    def __init__(self, trace: Trace, policy, initial_replicas: int):
        self.trace, self.policy = trace, policy
        self.events: list = []
        self.seq = itertools.count()
        self.queue: deque[int] = deque()
        self.replicas: list[Replica] = []
        self.serving: list[Replica] = []  # ready and not draining
        self.ids = itertools.count()
        self.waits = np.full(len(trace.arrivals), np.nan)
        self.timeline: list[tuple[float, int, int, int]] = []
        for _ in range(initial_replicas):
            replica = self.add_replica(0.0)
            self.make_ready(replica, 0.0)

    def push(self, time: float, kind: int, payload) -> None:
        heapq.heappush(self.events, (time, next(self.seq), kind, payload))

    def run(self) -> Result:
        arrivals, count = self.trace.arrivals, len(self.trace.arrivals)
        self.push(0.0, TICK, None)
        i = 0
        while i < count or self.queue:
            if i < count and (not self.events or arrivals[i] <= self.events[0][0]):
                self.arrive(i, arrivals[i])
                i += 1
                continue
            time, _, kind, payload = heapq.heappop(self.events)
            if kind == COMPLETE:
                self.complete(payload, time)
            elif kind == READY:
                self.make_ready(payload, time)
            else:
                self.tick(time)
        return Result(self.trace.name, self.policy.name, self.gpu_hours(), self.waits, self.timeline)

    def arrive(self, request: int, now: float) -> None:
        replica = self.least_busy_with_room()
        if replica is None:
            self.queue.append(request)
        else:
            self.start(request, replica, now)

    def least_busy_with_room(self) -> Replica | None:
        best = None
        for replica in self.serving:
            if replica.running < A.BATCH_LIMIT and (best is None or replica.running < best.running):
                best = replica
        return best

    def start(self, request: int, replica: Replica, now: float) -> None:
        self.waits[request] = now - self.trace.arrivals[request]
        if replica.busy_since is None:
            replica.busy_since = now
        replica.running += 1
        self.push(now + self.trace.service[request], COMPLETE, replica)

    def complete(self, replica: Replica, now: float) -> None:
        replica.running -= 1
        replica.completed += 1
        if not replica.draining and self.queue:
            self.start(self.queue.popleft(), replica, now)
            return
        if replica.running == 0:
            replica.busy_total += now - replica.busy_since
            replica.busy_since = None
            if replica.draining:
                replica.gone_at = now

    def add_replica(self, now: float) -> Replica:
        replica = Replica(next(self.ids), created=now)
        self.replicas.append(replica)
        return replica

    def make_ready(self, replica: Replica, now: float) -> None:
        if replica.draining:  # removed while it was starting
            return
        replica.ready = True
        self.serving.append(replica)
        while self.queue and replica.running < A.BATCH_LIMIT:
            self.start(self.queue.popleft(), replica, now)

    def active(self) -> list[Replica]:
        return [r for r in self.replicas if not r.draining]

    def view(self, now: float) -> FleetView:
        active = self.active()
        return FleetView(now=now, asked=len(active), starting=sum(not r.ready for r in active),
                         ready=tuple(self.serving), waiting=len(self.queue))

    def tick(self, now: float) -> None:
        view = self.view(now)
        self.timeline.append((now, view.asked, len(view.ready), view.waiting))
        desired = max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, self.policy.decide(view)))
        if desired > view.asked:
            for _ in range(desired - view.asked):
                self.push(now + A.COLD_START_SECONDS, READY, self.add_replica(now))
        elif desired < view.asked:
            self.remove(view.asked - desired, now)
        self.push(now + self.policy.interval, TICK, None)

    def remove(self, count: int, now: float) -> None:
        """Starting replicas first (newest first), then the ready ones with the fewest running."""
        active = self.active()
        order = sorted(active, key=lambda r: (r.ready, r.running, -r.created))
        for replica in order[:count]:
            replica.draining = True
            if replica in self.serving:
                self.serving.remove(replica)
            if replica.running == 0:
                replica.gone_at = now

    def gpu_hours(self) -> float:
        end = self.trace.duration
        seconds = sum(min(end, r.gone_at if r.gone_at is not None else end) - r.created
                      for r in self.replicas if r.created < end)
        return seconds * A.GPUS_PER_REPLICA / 3600


def simulate(trace: Trace, policy, initial_replicas: int = 2) -> Result:
    return Fleet(trace, policy, initial_replicas).run()
