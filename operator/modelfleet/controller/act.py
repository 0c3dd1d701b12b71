"""Act: carry out an ``Intent`` against the API server, and keep the cache in step with what was written.

Children and status are written by server-side apply with the operator's one
field manager (``kube.FIELD_MANAGER``); the API server's answer goes into the
cache at once, so the next reconcile starts from what was written. Nothing
here decides anything.
"""

from __future__ import annotations

from typing import Any

from kubernetes.dynamic.exceptions import NotFoundError

from modelfleet.api import API_VERSION, KIND, LLMDeploymentStatus

from . import metrics
from .cache import ClusterCache
from .decide import Intent
from .events import post_event
from .kube import FIELD_MANAGER, Kube


def act(kube: Kube, cache: ClusterCache, owner: dict[str, Any], intent: Intent, now: str) -> None:
    """Apply, delete, write status, post events: in that order, so the status describes what was applied."""
    namespace = owner["metadata"]["namespace"]
    for obj in intent.apply:
        live = kube.resource(obj["apiVersion"], obj["kind"]).server_side_apply(
            body=obj, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True
        ).to_dict()
        cache.store(live)
        metrics.WRITES.labels(obj["kind"], "apply").inc()
    for ref in intent.delete:
        try:
            kube.resource(ref.api_version, ref.kind).delete(
                name=ref.name, namespace=namespace, propagation_policy="Background")
        except NotFoundError:
            continue
        metrics.WRITES.labels(ref.kind, "delete").inc()
    if intent.status is not None:
        write_status(kube, cache, owner, intent.status)
    for event in intent.events:
        post_event(kube, owner, event.type, event.reason, event.message, now)


def write_status(kube: Kube, cache: ClusterCache, owner: dict[str, Any], status: LLMDeploymentStatus) -> None:
    """The whole status, server-side applied: fields the operator wrote before and leaves out are removed."""
    metadata = owner["metadata"]
    body = {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "status": status.to_wire()}
    try:
        written = kube.resource(API_VERSION, KIND).status.server_side_apply(
            body=body, name=metadata["name"], namespace=metadata["namespace"],
            field_manager=FIELD_MANAGER, force_conflicts=True,
        ).to_dict()
    except NotFoundError:
        return  # deleted meanwhile: nothing to report on
    metrics.WRITES.labels(KIND, "status").inc()
    cache.store(written)
