"""The router in front of an LLMDeployment's engine pods (``modelfleet router``; docs/router.md).

It holds requests while no replica is ready (a bounded queue, a bounded wait), routes each to the
replica with the fewest requests in flight or, opt in, by the prompt's prefix (consistent hashing with
bounded loads), relays answers (SSE streams too) untouched, and drains on SIGTERM. Its replicas come
from a headless Service's DNS records; it never talks to the Kubernetes API. Modules: ``pool`` (replicas,
picking, holding), ``affinity`` (the hash ring), ``prefix`` (the affinity key of a request),
``discovery`` (DNS), ``relay`` (the user-facing handler), ``metrics``, ``server`` (both ports, drain).
"""
