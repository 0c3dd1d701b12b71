"""One LLMDeployment at a time, in its workqueue worker: every write to it, observe → decide → act.

A worker pass writes, in order, what the autoscaling loop posted for the
object (a scaling decision, a KV capacity verdict: ``inbox``), the cold
starts of replicas that turned Ready (``cold_start``), then reconciles it;
a reconcile that raises is reported by ``report_failure``, still inside the
same pass. The workqueue runs one worker per object at a time, so the four
writers of an object's status never race and need no lock;
each starts from the cache, which holds the last write (``act``), and each
owns its own status fields under its own field manager (``decide.fields``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from modelfleet.api import OperatorSettings
from modelfleet.api.hub_token import TokenReader
from modelfleet.autoscale.policy import Decision

from . import metrics
from .act import apply_children, finish, write
from .autoscaler import record_metrics as record_decision_metrics
from .cache import ClusterCache
from .capacity import record_metrics as record_capacity_metrics
from .cold_start import time_cold_starts
from .decide import Intent, Snapshot, after_troubles, claim, decide
from .decide.autoscale import decide_autoscale
from .decide.capacity import Measurement, decide_capacity, judges_current
from .decide.children import refused, to_create
from .decide.failure import decide_failure
from .discovery import ServedApis
from .inbox import Facts, Inbox
from .kube import Kube
from .observe import ModelConfigs, PoolView, SecretLabels, holders, observe, observe_cached

log = logging.getLogger(__name__)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Reconciler:
    kube: Kube
    cache: ClusterCache
    settings: OperatorSettings
    models: ModelConfigs = field(default_factory=ModelConfigs)
    clock: Callable[[], str] = utc_now
    inbox: Inbox = field(default_factory=Inbox)
    token_reader: TokenReader = field(default_factory=TokenReader)
    apis: ServedApis = field(default_factory=lambda: ServedApis(lambda: False))  # the optional kinds served
    pools: PoolView = field(init=False)
    secrets: SecretLabels = field(init=False)

    def __post_init__(self) -> None:
        self.pools = PoolView(self.settings)
        self.secrets = SecretLabels(self.kube.secret_labels, self.token_reader)

    def reconcile(self, namespace: str, name: str) -> Intent | None:
        """Write what the loops posted, then bring the LLMDeployment to its desired state; None when it is gone."""
        self.record(namespace, name, self.inbox.take((namespace, name)))
        self.record_cold_starts(namespace, name)
        snapshot = observe(self.cache, self.pools, self.models, namespace, name, self.secrets,
                           inference_pools_served=self.apis.inference_pools)
        if snapshot is None:
            return None
        now = self.clock()
        with metrics.RECONCILE_SECONDS.time():
            intent = decide(snapshot, self.settings, now)
            held = holders(self.kube, namespace, to_create(intent.apply, intent.creates))
            intent, conflicts = claim(snapshot, intent, held)
            refusals = apply_children(self.kube, self.cache, snapshot.ref, intent)
            intent = after_troubles(snapshot, intent, [*conflicts, *map(refused, refusals)], now)
            finish(self.kube, self.cache, snapshot.ref, intent, now)
        degraded = any(e.type == "Warning" for e in intent.events)
        metrics.RECONCILES.labels("degraded" if degraded else "ok").inc()
        status = intent.status or snapshot.status
        # What the Deployment is rendered with: before the autoscaler's first decision status has none.
        desired = intent.observation.desired_replicas if intent.observation else status.desired_replicas
        labels = (namespace, name)
        metrics.READY_REPLICAS.labels(*labels).set(status.ready_replicas or 0)
        metrics.DESIRED_REPLICAS.labels(*labels).set(desired or 0)
        return intent

    def record(self, namespace: str, name: str, facts: Facts) -> None:
        """The autoscaler's decision, then the capacity verdict, each decided on the object as it now stands (the
        write before it included). A failed write is only logged, as a failed scrape is: the next round posts
        again, and the reconcile that follows goes on."""
        for what, fact in (("autoscaling decision", facts.decision), ("KV capacity", facts.measurement)):
            if fact is None:
                continue
            try:
                snapshot = observe_cached(self.cache, namespace, name)
                if snapshot is not None:
                    self._write_fact(snapshot, fact)
            except Exception:  # noqa: BLE001  one writer's failure must not stop the reconcile
                log.exception("writing the %s of %s/%s failed", what, namespace, name)

    def record_cold_starts(self, namespace: str, name: str) -> None:
        """The cold starts of the replicas that turned Ready since the last pass; a failure is only logged (the
        next pass tries again), as a failed fact write is."""
        try:
            snapshot = observe_cached(self.cache, namespace, name)
            if snapshot is not None:
                writes = time_cold_starts(self.kube, snapshot)
                if writes.status or writes.events:
                    write(self.kube, self.cache, snapshot.ref, writes, self.clock())
        except Exception:  # noqa: BLE001  one writer's failure must not stop the reconcile
            log.exception("recording the cold starts of %s/%s failed", namespace, name)

    def _write_fact(self, snapshot: Snapshot, fact: Decision | Measurement) -> None:
        now = self.clock()
        if isinstance(fact, Decision):
            write(self.kube, self.cache, snapshot.ref, decide_autoscale(snapshot, fact, now), now)
            record_decision_metrics(snapshot.ref, fact)
        elif judges_current(snapshot, fact):
            write(self.kube, self.cache, snapshot.ref, decide_capacity(snapshot, fact, now), now)
            record_capacity_metrics(snapshot.ref, fact.verdict)

    def report_failure(self, namespace: str, name: str, error: BaseException, retry_seconds: float) -> None:
        """A reconcile raised: say so in the object's own status (Degraded), once per distinct error."""
        metrics.RECONCILES.labels("error").inc()
        snapshot = observe_cached(self.cache, namespace, name)
        if snapshot is None:
            return
        now = self.clock()
        write(self.kube, self.cache, snapshot.ref, decide_failure(snapshot, error, retry_seconds, now), now)
