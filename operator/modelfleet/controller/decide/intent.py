"""What decide hands to act: the writes, each spelled out, none yet sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelfleet.api import CacheModeChosen, LLMDeploymentStatus, Plan
from modelfleet.render import ChildRef


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class StatusWrite:
    """One writer's part of the status, server-side applied under its own field manager."""

    manager: str
    status: LLMDeploymentStatus  # only the fields ``manager`` owns (``fields.owned``)

    def body(self) -> dict[str, Any]:
        """The ``status`` to apply: every field the manager owns that has a value. An empty ``conditions`` is left
        out, not sent as []: the manager owns no condition then, and the others' stay."""
        wire = self.status.to_wire()
        if not wire.get("conditions"):
            wire.pop("conditions", None)
        return wire


@dataclass(frozen=True)
class Writes:
    """What one writer writes besides children: its status, then its events."""

    status: tuple[StatusWrite, ...] = ()
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class ChildTrouble:
    """A child that could not be applied: the name is someone else's, or the API server refused it."""

    key: str  # "Kind/name"
    reason: str  # NameConflict, PredecessorDeleting or ChildRefused
    message: str
    # It passes by itself (the garbage collector is deleting what holds the name): no person needs to act.
    transient: bool = False


@dataclass(frozen=True)
class Refusal:
    """The API server's answer to a child act could not apply, in its own words (it names the field)."""

    key: str  # "Kind/name"
    message: str


@dataclass(frozen=True)
class Prune:
    """A JSON patch that removes what someone else added to a child's spec (``takeback``)."""

    api_version: str
    kind: str
    name: str
    ops: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Observation:
    """What one reconcile saw and decided, for its status."""

    generation: int
    problem: Problem | None = None
    plan: Plan | None = None
    desired_replicas: int | None = None  # what the engine Deployment is rendered with
    deployment: dict[str, Any] | None = None  # the engine Deployment as it will be after this reconcile
    selector: str | None = None
    endpoint: str | None = None
    blockers: tuple[str, ...] = ()  # children that hold replicas back, said for a person
    router_problem: Problem | None = None  # router pods that cannot run: Degraded, the engines unaffected
    autoscaled: bool = False  # the autoscaler writes desiredReplicas, not the reconcile
    cache_mode: CacheModeChosen | None = None  # the weights cache mode rendered, and why


@dataclass(frozen=True)
class Problem:
    """Why the spec cannot be served as asked; ``reason`` is one CamelCase word."""

    reason: str
    message: str
    # It passes by itself, with nothing to change: the rollout waits (Progressing), nothing is Degraded, no Warning.
    transient: bool = False


@dataclass(frozen=True)
class Intent:
    """What one reconcile will do. ``status`` is the whole status once its writes are applied; None when no
    writer's part changes."""

    apply: tuple[dict[str, Any], ...] = ()
    delete: tuple[ChildRef, ...] = ()
    prune: tuple[Prune, ...] = ()  # sent before ``apply``
    status: LLMDeploymentStatus | None = None
    status_writes: tuple[StatusWrite, ...] = ()
    events: tuple[Event, ...] = ()
    rollouts: tuple[str, ...] = ()  # "Kind/name" of workloads whose pod template changes
    plan: Plan | None = None
    # Children the cache does not hold: their names are looked up before they are created (the cache only
    # sees objects with the LLMDeployment label, so a foreign object of that name is invisible there).
    creates: frozenset[str] = frozenset()
    observation: Observation | None = field(default=None, compare=False)

    @property
    def writes(self) -> int:
        return len(self.apply) + len(self.delete) + len(self.prune) + len(self.status_writes) + len(self.events)

    @property
    def update(self) -> Writes:
        """The status writes and events, sent once the children are applied and deleted."""
        return Writes(self.status_writes, self.events)
