"""The operator's Prometheus metrics (served by prometheus-client)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "modelfleet_reconcile_total", "Reconciles of LLMDeployments, by outcome.", ["outcome"]
)
RECONCILE_SECONDS = Histogram(
    "modelfleet_reconcile_duration_seconds", "Time one reconcile takes.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WRITES = Counter(
    "modelfleet_child_writes_total", "Children applied or deleted, by kind and action.", ["kind", "action"]
)
READY_REPLICAS = Gauge(
    "modelfleet_llmdeployment_ready_replicas", "Ready (warmed-up) replicas.", ["namespace", "name"]
)
DESIRED_REPLICAS = Gauge(
    "modelfleet_llmdeployment_desired_replicas", "Replicas the operator asks for.", ["namespace", "name"]
)

QUEUE_DEPTH = Gauge(
    "modelfleet_llmdeployment_queue_depth", "Requests waiting per ready replica, last scraped.", ["namespace", "name"]
)
LAST_SCALE = Gauge(
    "modelfleet_llmdeployment_last_scale_timestamp_seconds", "When the autoscaler last changed the replicas.",
    ["namespace", "name"],
)
KV_CAPACITY_TOKENS = Gauge(
    "modelfleet_llmdeployment_kv_capacity_tokens",
    "KV cache token slots of one replica: as the plan predicted (source=planned) and as a Ready engine reports "
    "(source=measured).",
    ["namespace", "name", "source"],
)
KV_CAPACITY_SEQUENCES = Gauge(
    "modelfleet_llmdeployment_kv_capacity_sequences",
    "Sequences of maxModelLen tokens the KV cache of one replica holds, planned and measured.",
    ["namespace", "name", "source"],
)
COLD_START_SECONDS = Histogram(
    "modelfleet_cold_start_seconds",
    "New engine replicas' cold starts by phase (status.coldStart's phases; phase=total: pod created to Ready).",
    ["phase", "engine"],
    buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800),
)
SCALINGS = Counter(
    "modelfleet_autoscaler_scalings_total", "Replica changes made by the autoscaler.",
    ["namespace", "name", "direction"],
)


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address)


def forget(namespace: str, name: str) -> None:
    """Drop the per-LLMDeployment series of a deleted object."""
    for gauge in (READY_REPLICAS, DESIRED_REPLICAS, QUEUE_DEPTH, LAST_SCALE):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)
    for gauge in (KV_CAPACITY_TOKENS, KV_CAPACITY_SEQUENCES):
        for source in ("planned", "measured"):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name, source)
