"""A time-stepped simulation of a fleet of vLLM replicas behind one load balancer.

Model (README.md says why):
- Engines advance in ticks of ``TICK_SECONDS``. In a tick a replica runs as many
  steps as fit (engine.StepModel: step time grows with the batch and its
  context; prompt tokens ride in the steps, chunked prefill); each running
  request gains one output token per step and leaves when its output is done.
- A replica admits a request (vLLM's scheduler moves it from waiting to
  running) while it runs fewer than ``BATCH_LIMIT`` sequences, its KV cache
  (``KV_TOKENS``, from the sizing plan) holds the context plus the prompt,
  and its prompt backlog is below one tick of prefill (the scheduler's token
  budget goes to running requests first). Where a request waits depends on the
  routing (``ROUTINGS``):

  - ``service`` (a Kubernetes Service; the default): each request goes to a
    ready replica drawn at random (kube-proxy's iptables/IPVS pick) and, if
    that engine has no room, waits in *that engine's* FIFO queue, even while
    another replica has free slots. Each replica reports its own queue as
    ``num_requests_waiting``.
  - ``least`` (a load-aware router, e.g. a least-requests gateway): each
    request goes to the ready replica with the fewest requests in flight
    (running + waiting there) and queues in that engine like ``service``.
  - ``ideal`` (what this simulator did before): one central FIFO queue that
    any free slot serves (no replica idles while another has a queue); each
    ready replica reports an equal share of it.

  A request's *wait* is arrival -> admission.
- A replica created at t is Ready at t + the cold start (by default
  COLD_START_SECONDS, the phases in coldstart_phases.json) and is billed from
  t. A removed replica that is still starting goes at once; a ready one leaves
  the Service's endpoints (no new requests), finishes its running and queued
  ones and is billed until then. Starting replicas go first (newest first),
  then the ready ones with the fewest in flight.
- Each policy decides every ``policy.interval`` seconds on a ``FleetView``:
  the live fleet (modelfleet scrapes the engines itself; KubeAI counts at its
  proxy) or, for peers that read through Prometheus, the last scrape
  (every PROMETHEUS_SCRAPE_SECONDS, half a period out of phase with the
  decisions: 7 s old when read).
"""
from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import assumptions as A
import numpy as np
from traces import Trace


@dataclass(eq=False)
class Replica:
    id: int
    created: float
    ready_at: float
    ready: bool = False
    draining: bool = False
    gone_at: float | None = None


@dataclass(frozen=True)
class ReplicaView:
    id: int
    running: int
    waiting: float
    completed: int
    busy_ticks: int


@dataclass(frozen=True)
class FleetView:
    """What a policy may look at: replicas asked for, how many are starting, the ready ones' gauges."""

    now: float
    asked: int
    starting: int
    ready: tuple[ReplicaView, ...]
    waiting: int


ROUTINGS = ("service", "least", "ideal")


@dataclass
class Result:
    trace: str
    policy: str
    family: str
    knob: str
    seed: int
    gpu_hours: float
    waits: np.ndarray
    arrivals: np.ndarray
    changes: int = 0
    reversals: int = 0
    timeline: list[tuple[float, int, int, int]] = field(default_factory=list)  # (t, asked, ready, waiting)
    peak_kv_share: float = 0.0


class Fleet:
    def __init__(self, trace: Trace, policy, initial_replicas: int = 2, *, routing: str = "service",
                 cold_start: float = A.COLD_START_SECONDS, seed: int = 0):
        if routing not in ROUTINGS:
            raise ValueError(f"routing {routing!r}: one of {ROUTINGS}")
        self.trace, self.policy = trace, policy
        self.routing, self.cold_start = routing, float(cold_start)
        self.local = routing != "ideal"  # per-engine queues
        self.rng = np.random.default_rng([7, seed])  # the Service's random picks
        self.local_queues: dict[int, deque[int]] = {}  # replica id -> requests waiting in that engine
        self.local_total = 0
        self.pending: list[int] = []  # arrived while no replica was ready (no endpoints): routed later
        n = len(trace.arrivals)
        self.waits = np.full(n, np.nan)
        # running requests, flat across replicas
        self.r_req = np.zeros(0, dtype=np.int64)
        self.r_rep = np.zeros(0, dtype=np.int64)  # index into self.replicas
        self.r_rem = np.zeros(0)
        self.r_frac = np.zeros(0)  # share of the current tick it runs (admitted mid-tick)
        self.queue: list[int] = []
        self.qhead = 0
        self.replicas: list[Replica] = []
        # per replica (by id): requests running, finished, prompt tokens not yet prefilled, tokens in
        # its KV cache, ticks with a non-empty batch (what DCGM_FI_DEV_GPU_UTIL sees)
        size = 4 * A.MAX_REPLICAS
        self.running = np.zeros(size, dtype=np.int64)
        self.completed = np.zeros(size, dtype=np.int64)
        self.backlog = np.zeros(size)
        self.ctx = np.zeros(size)
        self.busy_ticks = np.zeros(size, dtype=np.int64)
        self.timeline: list[tuple[float, int, int, int]] = []
        self.prom_view: FleetView | None = None
        self.last_asked = initial_replicas
        self.moves: list[int] = []
        self.peak_kv = 0.0
        self.prefill_cap = A.TICK_SECONDS / A.STEP.per_prefill_token
        for _ in range(initial_replicas):
            replica = self.add_replica(-self.cold_start)
            replica.ready = True

    # --- replicas ------------------------------------------------------------------------------
    def add_replica(self, now: float) -> Replica:
        replica = Replica(len(self.replicas), created=now, ready_at=now + self.cold_start)
        self.replicas.append(replica)
        self.local_queues[replica.id] = deque()
        if len(self.replicas) > len(self.running):
            for name in ("running", "completed", "backlog", "ctx", "busy_ticks"):
                array = getattr(self, name)
                setattr(self, name, np.concatenate([array, np.zeros_like(array)]))
        return replica

    def serving(self) -> list[Replica]:
        return [r for r in self.replicas if r.ready and not r.draining]

    def active(self) -> list[Replica]:
        return [r for r in self.replicas if not r.draining]

    def room(self, replica: Replica) -> int:
        i = replica.id
        if not replica.ready or replica.draining or self.backlog[i] >= self.prefill_cap:
            return 0
        if self.ctx[i] + A.MAX_MODEL_LEN > A.KV_TOKENS:
            return 0
        return int(A.BATCH_LIMIT - self.running[i])

    # --- requests ------------------------------------------------------------------------------
    def admit(self, requests: np.ndarray, times: np.ndarray, end: float) -> int:
        """Admit ``requests`` (in order) at ``times`` to the least busy replicas with room; returns how many."""
        if len(requests) == 0:
            return 0
        serving = self.serving()
        rooms = [self.room(r) for r in serving]
        total = sum(rooms)
        if total == 0:
            return 0
        k = min(total, len(requests))
        # water-filling: each request to the replica with the fewest running that has room
        heap = [(self.running[r.id], i) for i, r in enumerate(serving) if rooms[i] > 0]
        heapq.heapify(heap)
        order = []
        for _ in range(k):
            load, i = heapq.heappop(heap)
            order.append(serving[i].id)
            rooms[i] -= 1
            if rooms[i] > 0:
                heapq.heappush(heap, (load + 1, i))
        self.place(requests[:k], np.array(order, dtype=np.int64), times[:k], end)
        return k

    def queued(self) -> int:
        return len(self.queue) - self.qhead + self.local_total + len(self.pending)

    # --- per-engine queues (service, least) ---------------------------------------------------------
    def route(self, requests: list[int]) -> None:
        """Send ``requests`` (in arrival order) to the serving replicas' own queues."""
        serving = self.serving()
        if not serving:
            self.pending.extend(requests)
            return
        if self.pending:
            requests, self.pending = self.pending + list(requests), []
        if self.routing == "service":
            picks = self.rng.integers(len(serving), size=len(requests))
            for request, pick in zip(requests, picks.tolist()):
                self.local_queues[serving[pick].id].append(request)
        else:  # least in flight: running + waiting at the replica, counting what this tick sent it
            heap = [(int(self.running[r.id]) + len(self.local_queues[r.id]), i) for i, r in enumerate(serving)]
            heapq.heapify(heap)
            for request in requests:
                load, i = heapq.heappop(heap)
                self.local_queues[serving[i].id].append(request)
                heapq.heappush(heap, (load + 1, i))
        self.local_total += len(requests)

    def local_room(self, replica: Replica) -> int:
        """Slots a replica fills from its own queue (a draining one still serves what it was sent)."""
        i = replica.id
        if not replica.ready or self.backlog[i] >= self.prefill_cap or self.ctx[i] + A.MAX_MODEL_LEN > A.KV_TOKENS:
            return 0
        return int(A.BATCH_LIMIT - self.running[i])

    def admit_local(self, t: float, end: float, completions: dict[int, np.ndarray] | None = None) -> None:
        """Each replica admits from the head of its own queue while it has room: at the request's arrival
        (not before ``t``), or after a completion (``completions``: that replica's completion times)
        frees the slot, else at the end of the tick."""
        reqs: list[int] = []
        reps: list[int] = []
        times: list[float] = []
        arrivals = self.trace.arrivals
        for replica in self.replicas:
            queue = self.local_queues[replica.id]
            if not queue or replica.gone_at is not None:
                continue
            room = self.local_room(replica)
            if room <= 0:
                continue
            k = min(room, len(queue))
            freed = np.sort(completions[replica.id]).tolist() if completions and replica.id in completions else []
            for n in range(k):
                request = queue.popleft()
                reqs.append(request)
                reps.append(replica.id)
                at = max(float(arrivals[request]), t)
                times.append(max(at, freed[n]) if n < len(freed) else (at if completions is None else end))
            self.local_total -= k
        if reqs:
            self.place(np.array(reqs, dtype=np.int64), np.array(reps, dtype=np.int64), np.array(times), end)

    def place(self, reqs: np.ndarray, idx: np.ndarray, at: np.ndarray, end: float) -> None:
        """Start ``reqs`` on replicas ``idx`` at times ``at``."""
        self.waits[reqs] = np.maximum(0.0, at - self.trace.arrivals[reqs])
        n = len(self.replicas)
        prompts = self.trace.prompt[reqs].astype(float)
        self.running[:n] += np.bincount(idx, minlength=n)
        added = np.bincount(idx, weights=prompts, minlength=n)
        self.backlog[:n] += added
        self.ctx[:n] += added
        self.r_req = np.concatenate([self.r_req, reqs])
        self.r_rep = np.concatenate([self.r_rep, idx])
        self.r_rem = np.concatenate([self.r_rem, self.trace.output[reqs].astype(float)])
        self.r_frac = np.concatenate([self.r_frac, np.clip((end - at) / A.TICK_SECONDS, 0, 1)])

    def run(self) -> Result:
        return self.run_local() if self.local else self.run_ideal()

    def scrape_and_decide(self, t: float, next_scrape: float, next_policy: float) -> tuple[float, float]:
        """Prometheus' scrape and the policy's decision, each when its clock comes round; their next times."""
        if t >= next_scrape:
            self.prom_view = self.view(t)
            # Prometheus' scrapes and the HPA's syncs run on their own clocks: after the first
            # scrape, half a period out of phase, so the HPA reads a value ~7 s old (the mean lag).
            next_scrape = next_scrape + A.PROMETHEUS_SCRAPE_SECONDS if next_scrape else \
                A.PROMETHEUS_SCRAPE_SECONDS / 2
        if t >= next_policy:
            self.decide(t)
            next_policy += self.policy.interval
        return next_scrape, next_policy

    def run_local(self) -> Result:
        trace, dt = self.trace, A.TICK_SECONDS
        arrivals = trace.arrivals
        i, t = 0, 0.0
        next_policy, next_scrape = 0.0, 0.0
        horizon = trace.duration + 3600
        while t < horizon and (t < trace.duration or self.queued() or len(self.r_req)):
            end = t + dt
            next_scrape, next_policy = self.scrape_and_decide(t, next_scrape, next_policy)
            for replica in self.replicas:
                if not replica.ready and not replica.draining and replica.ready_at <= t:
                    replica.ready = True
            j = int(np.searchsorted(arrivals, end))
            self.arrive(list(range(i, j)), t, end)
            i = j
            self.serve_local(t, end)
            t = end
            t, next_policy = self.skip_idle(t, i, next_policy, next_scrape)
        return self.result(horizon)

    def arrive(self, new: list[int], t: float, end: float) -> None:
        """This tick's arrivals (``new``), and those that came while no replica was ready, to the replicas."""
        if new or (self.pending and self.serving()):
            self.route(new)

    def serve_local(self, t: float, end: float) -> None:
        """One tick of the engines: each admits from its own queue, runs its batch, and fills the slots its
        completions free."""
        if self.local_total:
            self.admit_local(t, end)
        times, reps = self.advance(t)
        if self.local_total and len(times):
            order = np.argsort(reps, kind="stable")
            reps, times = reps[order], times[order]
            cuts = np.flatnonzero(np.diff(reps)) + 1
            by_replica = {int(r[0]): x for r, x in zip(np.split(reps, cuts), np.split(times, cuts))}
            self.admit_local(t, end, by_replica)
        elif self.local_total:
            self.admit_local(t, end, {})

    def skip_idle(self, t: float, i: int, next_policy: float, next_scrape: float) -> tuple[float, float]:
        """The next tick and the policy's next decision time: here always the next tick (a fleet that can
        skip idle stretches says so by overriding)."""
        return t, next_policy

    def result(self, horizon: float) -> Result:
        trace = self.trace
        gpu_seconds = sum(min(trace.duration, r.gone_at if r.gone_at is not None else trace.duration)
                          - max(0.0, r.created) for r in self.replicas if r.created < trace.duration)
        waits = np.where(np.isnan(self.waits), horizon - trace.arrivals, self.waits)
        return Result(trace.name, self.policy.name, self.policy.family, self.policy.knob, 0,
                      gpu_seconds * A.GPUS_PER_REPLICA / 3600, waits, trace.arrivals, len(self.moves),
                      reversals(self.moves), self.timeline, self.peak_kv)

    def run_ideal(self) -> Result:
        trace, dt = self.trace, A.TICK_SECONDS
        arrivals = trace.arrivals
        i, t = 0, 0.0
        next_policy, next_scrape = 0.0, 0.0
        horizon = trace.duration + 3600  # drain what is left after the trace
        while t < horizon and (t < trace.duration or self.queued() or len(self.r_req)):
            end = t + dt
            next_scrape, next_policy = self.scrape_and_decide(t, next_scrape, next_policy)
            for replica in self.replicas:
                if not replica.ready and not replica.draining and replica.ready_at <= t:
                    replica.ready = True
                    self.admit_queue(np.array([replica.ready_at]), end)
            j = int(np.searchsorted(arrivals, end))
            if j > i:
                new = np.arange(i, j)
                if self.queued():
                    self.queue.extend(new.tolist())
                else:
                    taken = self.admit(new, arrivals[i:j], end)
                    self.queue.extend(new[taken:].tolist())
                i = j
            completion_times, _ = self.advance(t)
            self.admit_queue(completion_times, end)
            t = end
        return self.result(horizon)

    def admit_queue(self, times: np.ndarray, end: float) -> None:
        if not self.queued():
            return
        count = self.queued()
        take = np.array(self.queue[self.qhead:self.qhead + count], dtype=np.int64)
        times = np.sort(times)
        at = np.concatenate([times[:count], np.full(max(0, count - len(times)), end)])
        taken = self.admit(take, at, end)
        self.qhead += taken
        if self.qhead > 100_000:
            self.queue, self.qhead = self.queue[self.qhead:], 0

    def advance(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Run one tick on every replica; returns the completion times of the requests that finished
        and their replicas."""
        dt = A.TICK_SECONDS
        n = len(self.replicas)
        none = (np.zeros(0), np.zeros(0, dtype=np.int64))
        if len(self.r_req) == 0:
            return none
        batch = np.bincount(self.r_rep, minlength=n).astype(float)
        ctx, backlog = self.ctx[:n], self.backlog[:n]
        steps, prefilled = A.STEP.tick(dt, batch, ctx, backlog)
        self.peak_kv = max(self.peak_kv, float(ctx.max()) / A.KV_TOKENS)
        self.busy_ticks[:n] += (batch > 0) | (backlog > 0)
        progress = steps[self.r_rep] * self.r_frac
        before = self.r_rem
        self.r_rem = before - progress
        done = self.r_rem <= 0
        self.r_frac = np.ones_like(self.r_rem)
        gained = np.bincount(self.r_rep, weights=np.minimum(progress, before), minlength=n)
        backlog -= np.minimum(backlog, prefilled)
        ctx += gained
        if not done.any():
            return none
        reps, reqs = self.r_rep[done], self.r_req[done]
        share = before[done] / np.maximum(progress[done], 1e-12)
        times = t + dt * np.clip(share, 0, 1)
        ctx -= np.bincount(reps, weights=(self.trace.prompt[reqs] + self.trace.output[reqs]).astype(float),
                           minlength=n)
        np.maximum(ctx, 0, out=ctx)
        finished = np.bincount(reps, minlength=n)
        self.running[:n] -= finished
        self.completed[:n] += finished
        keep = ~done
        self.r_req, self.r_rep, self.r_rem, self.r_frac = (self.r_req[keep], self.r_rep[keep], self.r_rem[keep],
                                                           self.r_frac[keep])
        for k in np.flatnonzero(finished):
            replica = self.replicas[k]
            if replica.draining and self.running[k] == 0 and not self.local_queues[k] and replica.gone_at is None:
                replica.gone_at = t + dt
        return times, reps

    # --- the policy ------------------------------------------------------------------------------
    def view(self, now: float) -> FleetView:
        serving = self.serving()
        share = self.queued() / len(serving) if serving else 0.0
        active = self.active()
        return FleetView(now=now, asked=len(active), starting=sum(not r.ready for r in active),
                         ready=tuple(ReplicaView(r.id, int(self.running[r.id]),
                                                 float(len(self.local_queues[r.id])) if self.local else share,
                                                 int(self.completed[r.id]), int(self.busy_ticks[r.id]))
                                     for r in serving),
                         waiting=self.queued())

    def decide(self, now: float) -> None:
        live = self.view(now)
        self.timeline.append((now, live.asked, len(live.ready), live.waiting))
        seen = self.prom_view if getattr(self.policy, "via_prometheus", False) else live
        # The policy acts on the replica count as it is now (the scale subresource), whatever it read.
        seen = FleetView(now, live.asked, live.starting, seen.ready, seen.waiting) if seen is not live else live
        desired = max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, int(self.policy.decide(seen))))
        if desired != live.asked:
            self.moves.append(desired - live.asked)
        if desired > live.asked:
            for _ in range(desired - live.asked):
                self.add_replica(now)
        elif desired < live.asked:
            self.remove(live.asked - desired, now)

    def remove(self, count: int, now: float) -> None:
        order = sorted(self.active(), key=lambda r: (r.ready, self.running[r.id] + len(self.local_queues[r.id]),
                                                     -r.created))
        for replica in order[:count]:
            replica.draining = True
            if not replica.ready or (self.running[replica.id] == 0 and not self.local_queues[replica.id]):
                replica.gone_at = now


def reversals(moves: list[int]) -> int:
    """Scale changes whose direction is the opposite of the previous change's."""
    return sum((a > 0) != (b > 0) for a, b in zip(moves, moves[1:]))


def simulate(trace: Trace, policy, initial_replicas: int = 2, *, routing: str = "service",
             cold_start: float = A.COLD_START_SECONDS, seed: int = 0) -> Result:
    return Fleet(trace, policy, initial_replicas, routing=routing, cold_start=cold_start, seed=seed).run()
