"""The policies, each modelled on what its documentation and source say it does, each with its main knob.

Every policy has the same bounds (assumptions.MIN_REPLICAS..MAX_REPLICAS),
decides at its own interval, and reads the fleet the way it does in a
cluster: peers that go through Prometheus see the last scrape
(``via_prometheus``), modelfleet scrapes the engines itself, KubeAI counts
at its own proxy.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque

import assumptions as A
from fleet import FleetView

from modelfleet.autoscale.observations import EngineLoad, Observation
from modelfleet.autoscale.policy import (
    STARTUP_SECONDS,
    TARGET_OCCUPANCY,
    FleetSnapshot,
    PolicySettings,
    PolicyState,
    decide,
    estimate_demand,
)


class Ours:
    """modelfleet's policy (operator/modelfleet/autoscale/policy.py, imported unchanged) at the operator's
    15 s loop and the API defaults; ``occupancy`` is its one knob outside the API. ``startup_seconds``:
    the cold start the controller hands it (the measured median pod created -> Ready; in the simulator
    every cold start is the same, so the measured one is the fleet's)."""

    interval = 15.0
    family = "modelfleet"

    def __init__(self, occupancy: float = TARGET_OCCUPANCY, startup_seconds: float = STARTUP_SECONDS):
        default = " (default)" if occupancy == TARGET_OCCUPANCY else ""
        self.knob = f"occupancy {occupancy:.2f}"
        self.name = f"modelfleet, occupancy {occupancy:.0%}{default}"
        self.settings = PolicySettings(min_replicas=A.MIN_REPLICAS, max_replicas=A.MAX_REPLICAS,
                                       target_queue_depth=4.0, scale_up_window_s=0, scale_down_window_s=300,
                                       batch_limit=A.BATCH_LIMIT, target_occupancy=occupancy,
                                       startup_seconds=startup_seconds)
        self.state = PolicyState()

    def decide(self, view: FleetView) -> int:
        observations = tuple(
            Observation(f"replica-{r.id}", EngineLoad(waiting=r.waiting, running=r.running, completed=r.completed))
            for r in view.ready)
        snapshot = FleetSnapshot(replicas=view.asked, ready=len(view.ready), observations=observations)
        decision = decide(self.settings, snapshot, self.state, view.now)
        self.state = decision.state
        return decision.replicas


class Hpa(ABC):
    """The HorizontalPodAutoscaler's arithmetic with its default behavior (autoscaling/v2): 15 s sync,
    10 % tolerance, scale up at once by max(+100 %, +4 pods) per 15 s, scale down to the highest
    recommendation of the last 300 s. It reads through Prometheus (the last scrape)."""

    interval = 15.0
    tolerance = 0.1
    down_window = 300.0
    via_prometheus = True

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


class External(Hpa):
    """KEDA's Prometheus scaler: the query's value as an External metric, target AverageValue T, so
    the HPA asks ceil(value / T) replicas unless value / (T x replicas) is within 10 % of 1."""

    def __init__(self, target: float):
        super().__init__()
        self.target = target

    @abstractmethod
    def value(self, view: FleetView) -> float:
        ...

    def proposal(self, view: FleetView) -> int:
        value = self.value(view)
        if abs(value / (self.target * view.asked) - 1) <= self.tolerance:
            return view.asked
        return math.ceil(value / self.target)


class KedaRunningWaiting(External):
    """The same signal as modelfleet: sum(vllm:num_requests_running + vllm:num_requests_waiting) over the
    pods, AverageValue T (the target in-flight requests per replica; the batch limit is 64).
    ``down_window``: the HPA's scaleDown stabilizationWindowSeconds (default 300 s)."""

    family = "KEDA/HPA running+waiting"

    def __init__(self, target: float, down_window: float = 300.0):
        super().__init__(target)
        self.down_window = down_window
        window = "" if down_window == 300.0 else f", scale-down window {down_window:g} s"
        self.knob = f"target {target:g}{window}"
        self.name = f"KEDA running+waiting, target {target:g}{window}"

    def value(self, view: FleetView) -> float:
        return sum(r.running + r.waiting for r in view.ready)


class KedaNeed(External):
    """KEDA whose Prometheus trigger is modelfleet's own need function: the replicas the requests in
    flight need at the target occupancy, with the burst reserve for the cold start (policy.py's
    ``estimate_demand`` without the rates and the trend, which a PromQL query over one scrape does
    not have: running + waiting, and above the queue target the excess as work for full batches),
    AverageValue 1, so the HPA asks ceil(need) with its tolerance, default behavior and the 7 s old
    scrape. It shows what the policy's stabilization, hysteresis and dwell add to the need alone."""

    family = "KEDA on our need function"

    def __init__(self, startup_seconds: float = STARTUP_SECONDS):
        super().__init__(1.0)
        self.knob = "need, AverageValue 1"
        self.name = "KEDA on modelfleet's need function"
        self.settings = Ours(startup_seconds=startup_seconds).settings

    def value(self, view: FleetView) -> float:
        if not view.ready:
            return float(view.asked)
        observations = tuple(
            Observation(f"replica-{r.id}", EngineLoad(waiting=r.waiting, running=r.running, completed=r.completed))
            for r in view.ready)
        snapshot = FleetSnapshot(replicas=view.asked, ready=len(view.ready), observations=observations)
        return estimate_demand(self.settings, snapshot, None, view.now).replicas


class KedaWaiting(External):
    """What keda.py shipped before (and vLLM production-stack's KEDA tutorial): sum(vllm:num_requests_waiting),
    threshold 5. Kept to show why it was replaced."""

    family = "KEDA waiting (old trigger)"

    def __init__(self, target: float = 5.0):
        super().__init__(target)
        self.knob = f"threshold {target:g}"
        self.name = f"KEDA waiting, threshold {target:g} (old keda.py)"

    def value(self, view: FleetView) -> float:
        return sum(r.waiting for r in view.ready)


class HpaGpuUtilization(Hpa):
    """An HPA on DCGM_FI_DEV_GPU_UTIL (Pods metric, AverageValue target %). GPU utilisation is the fraction
    of time a kernel runs: ~100 % as soon as a replica runs any batch. Starting pods report 0 % and
    count (the HPA ignores readiness for Pods metrics)."""

    family = "HPA GPU utilisation"

    def __init__(self, target: float):
        super().__init__()
        self.target = target
        self.knob = f"target {target:.0%}"
        self.name = f"HPA GPU util, target {target:.0%}"
        self.last: dict[int, int] = {}

    def proposal(self, view: FleetView) -> int:
        total = 0.0
        for r in view.ready:
            before = self.last.get(r.id, r.busy_ticks)
            total += min(1.0, (r.busy_ticks - before) * A.TICK_SECONDS / self.interval)
            self.last[r.id] = r.busy_ticks
        ratio = total / (self.target * view.asked)
        if abs(ratio - 1) <= self.tolerance:
            return view.asked
        return math.ceil(ratio * view.asked)


class KubeAI:
    """KubeAI's model autoscaler: every 10 s (charts/kubeai/values.yaml modelAutoscaling.interval), the
    active requests (running + queued) go into a moving average over timeWindow 10m; desired =
    ceil(average / targetRequests); up at once, down after ceil(scaleDownDelaySeconds 30 / 10 s) = 3
    consecutive lower answers. The average is kept across restarts, so it starts filled."""

    family = "KubeAI"
    interval = 10.0
    window = 60
    consecutive_downs_needed = 3

    def __init__(self, target: float):
        self.target = target
        self.knob = f"targetRequests {target:g}"
        self.name = f"KubeAI, targetRequests {target:g}"
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


# Each family's main knob, swept. modelfleet's default is TARGET_OCCUPANCY.
SWEEPS: dict[str, tuple] = {
    "modelfleet": (Ours, tuple(sorted({0.6, 0.7, TARGET_OCCUPANCY, 0.85}))),
    "KEDA/HPA running+waiting": (KedaRunningWaiting, (16, 24, 32, 40, 48, 56)),
    "KubeAI": (KubeAI, (24, 32, 48)),
    # 95 % never scales up (a busy replica reads ~100 %, within the 10 % tolerance of 95 %): not shown.
    "HPA GPU utilisation": (HpaGpuUtilization, (0.8,)),
    "KEDA waiting (old trigger)": (KedaWaiting, (5.0,)),
}


def make(family: str, knob) -> object:
    return SWEEPS[family][0](knob)
