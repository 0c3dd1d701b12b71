"""Kubernetes Events on an LLMDeployment, for `kubectl describe`.

Posted directly (not through kopf's poster) because the writers run in the
workqueue's worker threads, outside any kopf handler.
"""

from __future__ import annotations

import logging
import socket

from kubernetes.dynamic.exceptions import DynamicApiError

from modelfleet.api import API_VERSION, KIND

from .decide import Event, Ref
from .kube import Kube

log = logging.getLogger(__name__)

COMPONENT = "modelfleet"


def post_event(kube: Kube, ref: Ref, event: Event, now: str) -> None:
    """Best effort: an event the API server refuses (a namespace being deleted) must not fail the writer that
    already wrote what it decided; the status says the same."""
    try:
        kube.resource("v1", "Event").create(namespace=ref.namespace, body=_event(ref, event, now))
    except DynamicApiError as exc:
        log.warning("event %s on %s/%s not posted: %s", event.reason, ref.namespace, ref.name, exc.status)


def _event(ref: Ref, event: Event, now: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": ref.uid,
            "resourceVersion": ref.resource_version,
        },
        "type": event.type,
        "reason": event.reason,
        "message": event.message[:1024],  # the API server caps event messages
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": COMPONENT},
        "reportingComponent": f"modelfleet.io/{COMPONENT}",
        "reportingInstance": socket.gethostname()[:128],
    }
