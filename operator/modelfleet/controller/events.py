"""Kubernetes Events on an LLMDeployment, for `kubectl describe`.

Posted directly (not through kopf's poster) because reconciles also run from
the resync loop's threads, outside any kopf handler.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from kubernetes.dynamic.exceptions import DynamicApiError

from .kube import Kube

log = logging.getLogger(__name__)

COMPONENT = "modelfleet"


def post_event(kube: Kube, body: dict[str, Any], kind: str, reason: str, message: str, now: str) -> None:
    """Best effort: an event the API server refuses (a namespace being deleted) must not fail the reconcile
    that already wrote what it decided; the status says the same."""
    try:
        _create(kube, body, kind, reason, message, now)
    except DynamicApiError as exc:
        log.warning("event %s on %s/%s not posted: %s", reason, body["metadata"].get("namespace"),
                    body["metadata"].get("name"), exc.status)


def _create(kube: Kube, body: dict[str, Any], kind: str, reason: str, message: str, now: str) -> None:
    metadata = body["metadata"]
    kube.resource("v1", "Event").create(
        namespace=metadata["namespace"],
        body={
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
            "involvedObject": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],  # the API server caps event messages
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": COMPONENT},
            "reportingComponent": f"modelfleet.io/{COMPONENT}",
            "reportingInstance": socket.gethostname()[:128],
        },
    )
