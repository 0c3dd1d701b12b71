"""Act: carry out an ``Intent`` against the API server, and keep the cache in step with what was written.

Children and status are written by server-side apply with the operator's one
field manager (``kube.FIELD_MANAGER``); the API server's answer goes into the
cache at once, so the next reconcile starts from what was written. Nothing
here decides anything.
"""

from __future__ import annotations

import json
from typing import Any, cast

from kubernetes.dynamic.exceptions import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnprocessibleEntityError,
)

from modelfleet.api import API_VERSION, KIND, LLMDeploymentStatus

from . import metrics
from .cache import ClusterCache
from .decide import ChildTrouble, Intent, name_conflict, owned_by
from .events import post_event
from .kube import FIELD_MANAGER, Kube


def apply_children(kube: Kube, cache: ClusterCache, owner: dict[str, Any], intent: Intent) -> list[ChildTrouble]:
    """Server-side apply each child of the intent; what could not be applied comes back, said for a person.

    A child the cache does not hold is looked up first: the cache sees only objects carrying the
    LLMDeployment label, and applying over someone else's object would adopt it (and the garbage
    collector would delete it with the LLMDeployment)."""
    namespace = owner["metadata"]["namespace"]
    troubles = []
    for prune in intent.prune:
        try:
            live = kube.resource(prune.api_version, prune.kind).patch(
                body=list(prune.ops), name=prune.name, namespace=namespace,
                content_type="application/json-patch+json").to_dict()
        except (UnprocessibleEntityError, ConflictError, NotFoundError):
            continue  # changed or gone since it was read: the next reconcile looks again
        cache.store(live)
        metrics.WRITES.labels(prune.kind, "prune").inc()
    for obj in intent.apply:
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        resource = kube.resource(obj["apiVersion"], obj["kind"])
        if key in intent.creates:
            holder = _get(resource, obj["metadata"]["name"], namespace)
            if holder is not None and not owned_by(holder, owner):
                troubles.append(name_conflict(key, holder))
                continue
        try:
            live = resource.server_side_apply(
                body=obj, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            ).to_dict()
        # 403 too: a quota or an admission webhook refusing the child is the user's to fix, like a 422.
        except (UnprocessibleEntityError, BadRequestError, ConflictError, ForbiddenError) as exc:
            troubles.append(ChildTrouble(key, "ChildRefused", f"The API server refused {key}: {_reason(exc)}. "
                                         "Change the LLMDeployment field that renders it."))
            continue
        cache.store(live)
        metrics.WRITES.labels(obj["kind"], "apply").inc()
    return troubles


def finish(kube: Kube, cache: ClusterCache, owner: dict[str, Any], intent: Intent, now: str) -> None:
    """Delete what is no longer rendered, write the status, post the events (after the children, so the
    status describes what was applied)."""
    namespace = owner["metadata"]["namespace"]
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


def _get(resource: Any, name: str, namespace: str) -> dict[str, Any] | None:
    try:
        return cast(dict[str, Any], resource.get(name=name, namespace=namespace).to_dict())
    except NotFoundError:
        return None


def _reason(exc: Exception) -> str:
    """The API server's message (it names the field), not the client's wrapping of it."""
    body = getattr(exc, "body", None)
    if isinstance(body, (bytes, str)):
        try:
            return json.loads(body).get("message") or str(body)
        except ValueError:
            return body.decode() if isinstance(body, bytes) else body
    return str(exc)
