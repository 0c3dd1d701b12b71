"""The router's Prometheus series, on a registry of its own.

The operator's autoscaler reads ``modelfleet_router_held_requests`` (it exists at zero replicas, where a
metric of the engines vanishes with them, so the first held request can wake a fleet scaled to zero) and
``modelfleet_router_last_wake_wait_seconds`` (how long the first request of the last wake waited: the
LLMDeployment's ``status.lastWake``).
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Why the router answered a request itself: each reason and its status (client_closed gets no answer).
REASONS = {
    "hold_queue_full": 429,  # --max-held requests are held already
    "no_ready_replica": 503,  # held for --max-hold-seconds and no replica became ready
    "client_closed": 0,  # the client went away while held
    "upstream_error": 502,  # the replica could not be reached or failed before answering
    "body_too_large": 413,  # more than --max-body-bytes
}


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("modelfleet_router_requests", "Requests received.", registry=r)
        self.held = Gauge("modelfleet_router_held_requests", "Requests held now: no replica is ready.", registry=r)
        self.hold_seconds = Histogram(
            "modelfleet_router_hold_seconds", "Time a request was held before it was routed or refused.",
            # From a DNS refresh (about a second) to a cold start of minutes.
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600), registry=r,
        )
        self.last_wake_wait = Gauge(
            "modelfleet_router_last_wake_wait_seconds",
            "How long the first request of the last wait for a replica was held: from the moment a request "
            "found no replica ready to the moment one took it (a fleet woken from zero: the first request's wait).",
            registry=r)
        self.last_wake_time = Gauge("modelfleet_router_last_wake_timestamp_seconds",
                                    "When that wait ended (Unix time; 0: never).", registry=r)
        self.wakes = Counter("modelfleet_router_wakes",
                             "Waits for a replica that ended with a replica taking the held requests.", registry=r)
        self.routed = Counter("modelfleet_router_routed", "Requests sent to each replica (pod address).",
                              ["replica"], registry=r)
        self.in_flight = Gauge("modelfleet_router_in_flight", "Requests in flight on each replica (pod address).",
                               ["replica"], registry=r)
        self.rejected = Counter("modelfleet_router_rejected", "Requests the router answered itself, by reason.",
                                ["reason"], registry=r)
        self.ready_replicas = Gauge("modelfleet_router_ready_replicas", "Ready replicas the router knows of.",
                                    registry=r)
        self.discovery_errors = Counter("modelfleet_router_discovery_errors",
                                        "Failed reads of the replicas' DNS records.", registry=r)
        for reason in REASONS:
            self.rejected.labels(reason)  # every reason from 0, so rate() sees the first one

    def forget(self, replica: str) -> None:
        for family in (self.in_flight, self.routed):
            with contextlib.suppress(KeyError):
                family.remove(replica)
