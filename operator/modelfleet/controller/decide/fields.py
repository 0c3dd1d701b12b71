"""Who writes which status field: one server-side apply field manager per writer.

Four writers share an LLMDeployment's status, each under its own field
manager, and each sends its own fields only, always all of them:

- the reconcile (``RECONCILER``, also the manager of the children): what it
  observed and planned, conditions Ready, Progressing and Degraded (its own
  failure included: ``decide_failure`` says it in the same Degraded);
- the autoscaler (``AUTOSCALER``): its last look at the queue and when it
  last scaled; with minReplicas 0, the routers' held count and the last wake;
- the capacity loop (``CAPACITY``): the KV cache a Ready engine got, what its
  warm-up measured, condition KVCacheSufficient;
- the cold-start recorder (``COLD_START``): each new replica's cold start by
  phase, and their medians.

``desiredReplicas`` is the autoscaler's while ``spec.autoscaling`` is on (its
decision) and the reconcile's otherwise (``spec.replicas``). The API server
merges the four (``conditions`` is a list-map keyed by ``type``), and a
field a manager owned and leaves out of its next apply is removed, unless
another manager owns it too
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).
So no writer carries another's fields, and each removes its own by leaving
them out.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeploymentStatus
from modelfleet.sizing import KV_CAPACITY_CONDITION

from .intent import StatusWrite

RECONCILER = "modelfleet"
AUTOSCALER = "modelfleet-autoscaler"
CAPACITY = "modelfleet-capacity"
COLD_START = "modelfleet-coldstart"
MANAGERS = (RECONCILER, AUTOSCALER, CAPACITY, COLD_START)
# The writers a reconcile's status touches: its own, and the capacity loop's when the plan its verdict judged
# is no longer the plan (``capacity.standing``).
RECONCILE_WRITERS = (RECONCILER, CAPACITY)

# LLMDeploymentStatus fields (attribute names) by writer, desiredReplicas aside.
_FIELDS: dict[str, tuple[str, ...]] = {
    RECONCILER: ("observed_generation", "health", "reason", "plan", "cache_mode", "replicas", "ready_replicas",
                 "selector", "endpoint"),
    AUTOSCALER: ("queue_depth", "last_scale_time", "held_requests", "last_wake"),
    CAPACITY: ("kv_capacity", "warmup"),
    COLD_START: ("cold_start",),
}
# Condition types by writer, in the order each sends them.
CONDITIONS: dict[str, tuple[str, ...]] = {
    RECONCILER: ("Ready", "Progressing", "Degraded"),
    AUTOSCALER: (),
    CAPACITY: (KV_CAPACITY_CONDITION,),
    COLD_START: (),
}


def fields_of(manager: str, autoscaled: bool) -> tuple[str, ...]:
    """The status fields ``manager`` writes (``autoscaled``: spec.autoscaling is on)."""
    replicas_writer = AUTOSCALER if autoscaled else RECONCILER
    return _FIELDS[manager] + (("desired_replicas",) if manager == replicas_writer else ())


def owned(status: LLMDeploymentStatus, manager: str, autoscaled: bool) -> LLMDeploymentStatus:
    """The part of ``status`` that ``manager`` writes: all it sends, and nothing else.

    Its conditions come in its own order, so that the order the API server keeps them in never reads as a change."""
    order = CONDITIONS[manager]
    update: dict[str, Any] = {name: getattr(status, name) for name in fields_of(manager, autoscaled)}
    update["conditions"] = sorted((c for c in status.conditions if c.type in order), key=lambda c: order.index(c.type))
    return LLMDeploymentStatus().model_copy(update=update)


def writes(previous: LLMDeploymentStatus, after: LLMDeploymentStatus, managers: tuple[str, ...],
           autoscaled: bool) -> tuple[StatusWrite, ...]:
    """What each of ``managers`` must apply for the stored ``previous`` to read as ``after``; none when its part
    already does (a no-op apply is still a write, and shows in the audit log)."""
    return tuple(StatusWrite(manager, mine) for manager in managers
                 if (mine := owned(after, manager, autoscaled)) != owned(previous, manager, autoscaled))
