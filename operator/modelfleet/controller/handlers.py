"""kopf handlers: thin entry points that call ``reconcile``.

Only watching handlers are used (no change handlers, timers or deletion
handlers), so kopf writes nothing to LLMDeployments: no finalizer that could
block a deletion while the operator is down, no last-handled annotation for
GitOps tools to see. Children carry owner references and are garbage-collected
by Kubernetes. A periodic resync (one loop over all objects, started at
startup) catches anything a watch missed.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
from collections import defaultdict
from typing import Any

import aiohttp
import kopf
from kubernetes.dynamic.exceptions import NotFoundError

from modelfleet.api import API_VERSION, GROUP, KIND, PLURAL, VERSION

from modelfleet.autoscale.policy import Decision

from . import metrics
from .autoscaler import Autoscaler, decision_status, record_metrics
from modelfleet.render import LLMDEPLOYMENT_LABEL

from .children import CHILD_KINDS
from .config import ProcessConfig, load_process_config
from .events import post_event
from .kube import Kube, connect
from .reconcile import Outcome, reconcile

PREFIX = "modelfleet.io"


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    return kopf.login_via_client(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """Every kopf setting in one place."""
    config = load_process_config()
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.watching.server_timeout = config.watch_timeout_seconds
    settings.watching.client_timeout = config.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING  # kopf's own events: handler failures only
    settings.execution.max_workers = 8
    memo.config = config
    memo.kube = connect()
    memo.loops = [
        asyncio.create_task(_resync_forever(memo.kube, config, logger)),
        asyncio.create_task(_autoscale_forever(Autoscaler(memo.kube), config, logger)),
    ]


@kopf.on.cleanup()
async def stop_loops(memo: kopf.Memo, **_: Any) -> None:
    for task in getattr(memo, "loops", []):
        task.cancel()


@kopf.on.event(GROUP, VERSION, PLURAL)
def llmdeployment_changed(event: dict[str, Any], body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    if event.get("type") == "DELETED" or body.metadata.get("deletionTimestamp"):
        metrics.forget(body.metadata["namespace"], body.metadata["name"])
        return
    reconcile_named(memo.kube, memo.config, body.metadata["namespace"], body.metadata["name"])


def _child_handler(api_version: str, kind: str) -> None:
    group, _, version = api_version.rpartition("/")

    @kopf.on.event(group, version, kind.lower() + "s", labels={LLMDEPLOYMENT_LABEL: kopf.PRESENT}, id=f"child-{kind}")
    def child_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        """A child changed or vanished: bring its owner back to the desired state."""
        reconcile_named(memo.kube, memo.config, body.metadata["namespace"], body.metadata["labels"][LLMDEPLOYMENT_LABEL])


for _api_version, _kind in CHILD_KINDS:
    _child_handler(_api_version, _kind)


async def _resync_forever(kube: Kube, config: ProcessConfig, logger: logging.Logger) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(config.resync_seconds)
        try:
            await loop.run_in_executor(None, _resync_all, kube, config)
        except Exception:  # the loop must outlive any one failure; the next round retries
            logger.exception("resync failed")


async def _autoscale_forever(autoscaler: Autoscaler, config: ProcessConfig, logger: logging.Logger) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(config.autoscale_seconds)
            items = await asyncio.to_thread(_list_llmdeployments, autoscaler.kube)
            for body in items:
                try:
                    decision = await autoscaler.decide(body, session)
                    if decision is not None:
                        await asyncio.to_thread(record_decision, autoscaler.kube, body, decision)
                except Exception:  # one fleet's failure must not stop the others' scaling
                    logger.exception("autoscaling %s/%s failed", body["metadata"]["namespace"], body["metadata"]["name"])


def _list_llmdeployments(kube: Kube) -> list[dict[str, Any]]:
    return kube.resource(API_VERSION, KIND).get().to_dict()["items"]


def _resync_all(kube: Kube, config: ProcessConfig) -> None:
    for item in _list_llmdeployments(kube):
        reconcile_named(kube, config, item["metadata"]["namespace"], item["metadata"]["name"])


# The LLMDeployment's own events, its children's and the resync loop may ask
# for the same object at once (kopf's thread pool): one at a time, each on a
# fresh read, so the second never acts on the status the first just replaced.
_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)


def reconcile_named(kube: Kube, config: ProcessConfig, namespace: str, name: str) -> None:
    with _locks[(namespace, name)]:
        body = _get_owner(kube, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        outcome = reconcile(kube, config, body, now=now)
        _write_status(kube, body, outcome)
        for event in outcome.events:
            post_event(kube, body, event.type, event.reason, event.message, now)


def record_decision(kube: Kube, body: dict[str, Any], decision: Decision) -> None:
    """Write an autoscaling decision; the status change makes the reconcile resize the Deployment."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with _locks[(namespace, name)]:
        current = _get_owner(kube, namespace, name)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        now = _now()
        _write_status(kube, current, Outcome(status_patch=decision_status(decision, current.get("status") or {}, now)))
        if decision.changed:
            post_event(kube, current, "Normal", decision.reason, decision.message, now)
        record_metrics(current, decision)


def _write_status(kube: Kube, body: dict[str, Any], outcome: Outcome) -> None:
    if not outcome.status_patch:
        return
    try:
        kube.resource(API_VERSION, KIND).status.patch(
            body={"status": outcome.status_patch},
            name=body["metadata"]["name"],
            namespace=body["metadata"]["namespace"],
            content_type="application/merge-patch+json",
        )
    except NotFoundError:
        pass  # deleted meanwhile: nothing to report on


def _get_owner(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return kube.resource(API_VERSION, KIND).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
