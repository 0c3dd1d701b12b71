"""Act: send what decide wrote down, and keep the cache in step with what was written. Nothing here decides.

Children are server-side applied under the reconcile's field manager
(``fields.RECONCILER``); each status write under its writer's own
(``StatusWrite.manager``), by ``apply_status``, the one function that writes
status. The API server's answer goes into the cache at once, so the next
snapshot starts from what was written. What the API server refuses comes back
in its own words (``Refusal``), for decide to say in the status.
"""

from __future__ import annotations

import json
import logging

from kubernetes.dynamic.exceptions import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ResourceNotFoundError,
    UnprocessibleEntityError,
)

from modelfleet.api import API_VERSION, KIND

from . import metrics
from .cache import ClusterCache
from .decide import Intent, Ref, StatusWrite, Writes
from .decide.children import key_of
from .decide.fields import RECONCILER
from .decide.intent import Refusal
from .events import post_event
from .kube import Kube

log = logging.getLogger(__name__)


def apply_children(kube: Kube, cache: ClusterCache, owner: Ref, intent: Intent) -> list[Refusal]:
    """Prune, then server-side apply, each child of the intent; what the API server refused comes back."""
    refusals = []
    for prune in intent.prune:
        try:
            live = kube.resource(prune.api_version, prune.kind).patch(
                body=list(prune.ops), name=prune.name, namespace=owner.namespace,
                content_type="application/json-patch+json").to_dict()
        except (UnprocessibleEntityError, ConflictError, NotFoundError):
            continue  # changed or gone since it was read: the next reconcile looks again
        cache.store(live)
        metrics.WRITES.labels(prune.kind, "prune").inc()
    for obj in intent.apply:
        try:
            live = kube.resource(obj["apiVersion"], obj["kind"]).server_side_apply(
                body=obj, namespace=owner.namespace, field_manager=RECONCILER, force_conflicts=True
            ).to_dict()
        # 403 too: a quota or an admission webhook refusing the child is the user's to fix, like a 422.
        except (UnprocessibleEntityError, BadRequestError, ConflictError, ForbiddenError) as exc:
            refusals.append(Refusal(key_of(obj), _reason(exc)))
            continue
        # The kind is not served (any more): an InferencePool whose CRD was removed since discovery last asked.
        # Nothing to apply it to; the next discovery round stops rendering it (controller/discovery.py).
        except (NotFoundError, ResourceNotFoundError) as exc:
            log.info("not applied: %s in %s: %s", key_of(obj), owner.namespace, _reason(exc))
            continue
        cache.store(live)
        metrics.WRITES.labels(obj["kind"], "apply").inc()
    return refusals


def finish(kube: Kube, cache: ClusterCache, owner: Ref, intent: Intent, now: str) -> None:
    """Delete what is no longer rendered, then write the status and post the events (after the children, so the
    status describes what was applied)."""
    for ref in intent.delete:
        try:
            kube.resource(ref.api_version, ref.kind).delete(
                name=ref.name, namespace=owner.namespace, propagation_policy="Background")
        except (NotFoundError, ResourceNotFoundError):  # gone already, or its kind with it
            continue
        metrics.WRITES.labels(ref.kind, "delete").inc()
    write(kube, cache, owner, intent.update, now)


def write(kube: Kube, cache: ClusterCache, owner: Ref, writes: Writes, now: str) -> None:
    """A writer's status writes, then its events."""
    for status in writes.status:
        if not apply_status(kube, cache, owner, status):
            return  # the object is gone: nothing to tell about it
    for event in writes.events:
        post_event(kube, owner, event, now)


def apply_status(kube: Kube, cache: ClusterCache, owner: Ref, status: StatusWrite) -> bool:
    """One writer's part of the status, server-side applied under its own field manager: the fields it wrote
    before and leaves out are removed, the other writers' stay. False when the object is gone."""
    body = {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": owner.name, "namespace": owner.namespace},
            "status": status.body()}
    try:
        written = kube.resource(API_VERSION, KIND).status.server_side_apply(
            body=body, name=owner.name, namespace=owner.namespace,
            field_manager=status.manager, force_conflicts=True,
        ).to_dict()
    except NotFoundError:
        return False  # deleted meanwhile
    metrics.WRITES.labels(KIND, "status").inc()
    cache.store(written)
    return True


def _reason(exc: Exception) -> str:
    """The API server's message (it names the field), not the client's wrapping of it."""
    body = getattr(exc, "body", None)
    if isinstance(body, (bytes, str)):
        try:
            return json.loads(body).get("message") or str(body)
        except ValueError:
            return body.decode() if isinstance(body, bytes) else body
    return str(exc)
