"""The four policies, each modelled on what its documentation and source say it does.

Every policy gets the same bounds (assumptions.MIN_REPLICAS..MAX_REPLICAS)
and sees the fleet at its own interval. None is given Prometheus' scrape lag
(it would only slow the three that read through Prometheus).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque

import assumptions as A
from fleet import FleetView
from modelfleet.autoscale.policy import TARGET_OCCUPANCY, FleetSnapshot, PolicySettings, PolicyState, decide
from modelfleet.autoscale.observations import EngineLoad, Observation


class Ours:
    """modelfleet's policy, unchanged, at the operator's 15 s timer and the API defaults
    (targetQueueDepth 4, scale up at once, scale down after 300 s, 75 % batch occupancy)."""

    interval = 15.0

    def __init__(self, occupancy: float | None = None):
        self.name = "modelfleet (queue depth)"
        if occupancy is not None:
            self.name += f", occupancy {occupancy:.0%}" + (" (default)" if occupancy == TARGET_OCCUPANCY else "")
        occupancy = TARGET_OCCUPANCY if occupancy is None else occupancy
        self.settings = PolicySettings(min_replicas=A.MIN_REPLICAS, max_replicas=A.MAX_REPLICAS,
                                       target_queue_depth=4.0, scale_up_window_s=0, scale_down_window_s=300,
                                       batch_limit=A.BATCH_LIMIT, target_occupancy=occupancy)
        self.state = PolicyState()

    def decide(self, view: FleetView) -> int:
        share = view.waiting / len(view.ready) if view.ready else 0.0
        observations = tuple(
            Observation(f"replica-{r.id}", EngineLoad(waiting=share, running=r.running, completed=r.completed))
            for r in view.ready)
        snapshot = FleetSnapshot(replicas=view.asked, ready=len(view.ready), observations=observations)
        decision = decide(self.settings, snapshot, self.state, view.now)
        self.state = decision.state
        return decision.replicas


class Hpa(ABC):
    """The HorizontalPodAutoscaler's replica arithmetic with its default behavior (autoscaling/v2):
    15 s sync, 10 % tolerance, scale up at once by max(+100 %, +4 pods) per 15 s, scale down to the
    highest recommendation of the last 300 s, by up to 100 % per 15 s."""

    interval = 15.0
    tolerance = 0.1
    down_window = 300.0

    def __init__(self):
        self.history: deque[tuple[float, int]] = deque()

    @abstractmethod
    def proposal(self, view: FleetView) -> int:
        """Replicas the metric asks for, before stabilization and rate limits."""

    def decide(self, view: FleetView) -> int:
        current = view.asked
        recommendation = max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, self.proposal(view)))
        self.history.append((view.now, recommendation))
        while self.history[0][0] < view.now - self.down_window:
            self.history.popleft()
        highest = max(r for _, r in self.history)
        desired = max(current, recommendation) if recommendation > current else min(current, highest)
        return min(desired, current + max(current, 4))


class KedaWaiting(Hpa):
    """production-stack's KEDA example: a Prometheus trigger on vllm:num_requests_waiting,
    threshold 5, pollingInterval 15 s, cooldownPeriod 360 s. KEDA hands the HPA an external
    metric with target AverageValue 5, so desired = ceil(sum of waiting / 5) (10 % tolerance).
    cooldownPeriod only governs scaling to zero, which minReplicaCount >= 1 rules out here."""

    name = "KEDA waiting>5 (production-stack)"
    threshold = 5.0

    def proposal(self, view: FleetView) -> int:
        ratio = view.waiting / (self.threshold * view.asked)
        if abs(ratio - 1) <= self.tolerance:
            return view.asked
        return math.ceil(view.waiting / self.threshold)


class HpaGpuUtilization(Hpa):
    """An HPA on DCGM_FI_DEV_GPU_UTIL (Pods metric, AverageValue 80). GPU utilisation is the
    fraction of time a kernel runs, so it reads ~100 % as soon as a replica runs any batch: it
    says a replica is busy, not how much more it could take. Starting pods report 0 % and are
    counted (the HPA ignores readiness for Pods metrics), which damps scale-up during cold starts."""

    name = "HPA GPU util 80%"
    target = 0.8

    def __init__(self):
        super().__init__()
        self.last_busy: dict[int, float] = {}

    def utilization(self, view: FleetView) -> float:
        total = 0.0
        for replica in view.ready:
            busy = replica.busy_seconds(view.now)
            total += min(1.0, (busy - self.last_busy.get(replica.id, busy)) / self.interval)
            self.last_busy[replica.id] = busy
        return total  # starting pods add 0

    def proposal(self, view: FleetView) -> int:
        ratio = self.utilization(view) / (self.target * view.asked)
        if abs(ratio - 1) <= self.tolerance:
            return view.asked
        return math.ceil(ratio * view.asked)


class KubeAIInFlight:
    """KubeAI's model autoscaler with its defaults: every 10 s, the active requests at its proxy
    (running plus queued) go into a 10-minute moving average; desired = ceil(average /
    targetRequests 100); up at once, down after ceil(scaleDownDelaySeconds 30 / 10 s) = 3
    consecutive lower answers. KubeAI keeps the average in a ConfigMap across restarts, so the
    window starts filled with the first sample rather than zeros."""

    name = "KubeAI in-flight 100"
    interval = 10.0
    target = 100.0
    window = 60  # 10 min / 10 s
    consecutive_downs_needed = 3

    def __init__(self):
        self.samples: deque[float] = deque(maxlen=self.window)
        self.downs = 0

    def decide(self, view: FleetView) -> int:
        active = view.waiting + sum(r.running for r in view.ready)
        if not self.samples:
            self.samples.extend([active] * self.window)
        self.samples.append(active)
        desired = max(A.MIN_REPLICAS, min(A.MAX_REPLICAS, math.ceil(sum(self.samples) / len(self.samples)
                                                                        / self.target)))
        if desired >= view.asked:
            self.downs = 0
            return desired
        self.downs += 1
        if self.downs < self.consecutive_downs_needed:
            return view.asked
        self.downs = 0
        return desired


POLICIES = (Ours, KedaWaiting, HpaGpuUtilization, KubeAIInFlight)
# Our one knob that is not in the API, swept on the bursty trace to show what it trades.
OCCUPANCY_SWEEP = (1.0, 0.85, 0.75, 0.5)
