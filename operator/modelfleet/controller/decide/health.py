"""One word for the object's state, and the reason behind it (pure): what ``kubectl get llmd`` shows.

The three conditions are the truth; this is their summary for the table's Health and Reason columns, in the
same order the Argo CD health check reads them (``argocd/resource_customizations/modelfleet.io/LLMDeployment/
health.lua``), so the table and Argo CD never disagree (tests/unit/test_argocd_health.py runs both):

1. ``Degraded=True``: Degraded, its reason (something needs a person);
2. ``Ready=True``: Healthy;
3. ``Ready`` reason ``ScaledToZero`` or ``Idle``: Healthy (what the user asked for, as a Deployment scaled to
   zero, or a fleet with minReplicas 0 that had no request);
4. ``Progressing=True``: Progressing, its reason;
5. otherwise Progressing, Ready's reason (why the replicas are not ready yet).

Argo CD also answers Progressing for an object being deleted or whose generation the operator has not
observed yet; the columns are written by the reconcile of the current generation, so they need neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelfleet.api import Condition
from modelfleet.api.status import Health

from .conditions import find

SCALED_TO_ZERO = "ScaledToZero"
IDLE = "Idle"  # minReplicas 0: scaled to zero without requests; the router wakes it
WAKING = "Waking"  # a request is held while the first replica of a fleet at zero starts
# Ready reasons that are what the user asked for although no replica serves.
AT_REST = (SCALED_TO_ZERO, IDLE)


@dataclass(frozen=True)
class Summary:
    health: Health
    condition: Condition | None  # the condition that decided it; its reason is the Reason column

    @property
    def reason(self) -> str | None:
        return self.condition.reason if self.condition is not None else None


def summarize(conditions: list[Condition]) -> Summary:
    degraded, ready = find(conditions, "Degraded"), find(conditions, "Ready")
    progressing = find(conditions, "Progressing")
    if degraded is not None and degraded.status == "True":
        return Summary("Degraded", degraded)
    if ready is not None and (ready.status == "True" or ready.reason in AT_REST):
        return Summary("Healthy", ready)
    if progressing is not None and progressing.status == "True":
        return Summary("Progressing", progressing)
    return Summary("Progressing", ready)
