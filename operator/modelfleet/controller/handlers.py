"""kopf handlers: thin entry points that call ``reconcile``.

Only watching handlers are used (no change handlers, timers or deletion
handlers), so kopf writes nothing to LLMDeployments: no finalizer that could
block a deletion while the operator is down, no last-handled annotation for
GitOps tools to see. Children carry owner references and are garbage-collected
by Kubernetes. The resync and autoscaling loops (``loops``) start at startup;
everything that acts on an object goes through ``actions``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from modelfleet.api import GROUP, PLURAL, VERSION
from modelfleet.render import LLMDEPLOYMENT_LABEL

from . import metrics
from .actions import reconcile_named
from .autoscaler import Autoscaler
from .children import CHILD_KINDS
from .config import load_process_config
from .kube import connect
from .loops import autoscale_forever, resync_forever

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
        asyncio.create_task(resync_forever(memo.kube, config, logger)),
        asyncio.create_task(autoscale_forever(Autoscaler(memo.kube), config, logger)),
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
