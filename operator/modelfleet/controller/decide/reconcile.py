"""Decide (pure): from a ``Snapshot`` to what the cluster should become.

``decide`` returns an ``Intent``: the children to server-side apply (those
missing or drifted from what is rendered), the children to delete (ours, no
longer rendered), the whole status, and the events to post. It reads no
clock (``now`` is passed in) and sends nothing, so every decision is
table-tested without a cluster (tests/unit/test_controller_decide.py);
``act`` carries the intent out.

Level-based: each call computes the whole desired state from the spec and
the snapshot, so a missed event, a restart or a concurrent edit converges on
the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from modelfleet.api import (
    InvalidSpec,
    LLMDeployment,
    LLMDeploymentStatus,
    OperatorSettings,
    Plan,
    parse_llmdeployment,
)
from modelfleet.api.hub_token import REASON as TOKEN_SECRET_NOT_ALLOWED, hub_token_refusal
from modelfleet.catalog import ModelUnavailable
from modelfleet.render import (
    POD_SPEC_HASH_ANNOTATION,
    ChildRef,
    UnsupportedSpec,
    child_refs,
    endpoint,
    render_all,
    selector_string,
)
from modelfleet.sizing import SizingError, plan_deployment
from modelfleet.sizing.cache_fit import REASON as CACHE_TOO_SMALL, cache_too_small

from .drift import differs
from .kube import FIELD_MANAGER
from .observe import Snapshot
from .status import Observation, Problem, derive_status, read_status
from .takeback import foreign_additions, removal_patch, without


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class ChildTrouble:
    """A child that could not be applied: the name is someone else's, or the API server refused it."""

    key: str  # "Kind/name"
    reason: str  # NameConflict or ChildRefused
    message: str


@dataclass(frozen=True)
class Prune:
    """A JSON patch that removes what someone else added to a child's spec (``takeback``)."""

    api_version: str
    kind: str
    name: str
    ops: tuple[dict[str, Any], ...]


# Children whose spec the API server lets change after creation: hand additions there are removed.
# (A PersistentVolumeClaim's spec is immutable but for its size.)
PRUNABLE_KINDS = {"Deployment", "DaemonSet", "Service", "PodDisruptionBudget"}


@dataclass(frozen=True)
class Intent:
    """What one reconcile will do. ``status`` is None when the stored one is already right."""

    apply: tuple[dict[str, Any], ...] = ()
    delete: tuple[ChildRef, ...] = ()
    prune: tuple[Prune, ...] = ()  # sent before ``apply``
    status: LLMDeploymentStatus | None = None
    events: tuple[Event, ...] = ()
    rollouts: tuple[str, ...] = ()  # "Kind/name" of workloads whose pod template changes
    plan: Plan | None = None
    # Children the cache does not hold: act checks the name is free before it creates them (the cache only
    # sees objects with the LLMDeployment label, so a foreign object of that name is invisible here).
    creates: frozenset[str] = frozenset()
    observation: Observation | None = field(default=None, compare=False)

    @property
    def writes(self) -> int:
        return len(self.apply) + len(self.delete) + len(self.prune) + (self.status is not None) + len(self.events)


@dataclass(frozen=True)
class _Children:
    apply: tuple[dict[str, Any], ...]
    delete: tuple[ChildRef, ...]
    rollouts: tuple[str, ...]
    after: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Kind/name" -> the child once applied
    creates: frozenset[str] = frozenset()
    conflicts: tuple[ChildTrouble, ...] = ()
    prune: tuple[Prune, ...] = ()


def decide(snapshot: Snapshot, settings: OperatorSettings, now: str) -> Intent:
    """The intent for one LLMDeployment."""
    body = snapshot.body
    previous = read_status(snapshot.previous_status)
    generation = body["metadata"].get("generation", 0)
    try:
        resource = parse_llmdeployment({k: v for k, v in body.items() if k != "status"})
    except InvalidSpec as exc:
        return _problem(snapshot, Problem("InvalidSpec", str(exc)), now)
    if isinstance(snapshot.model, ModelUnavailable):
        return _problem(snapshot, _problem_of(snapshot.model), now)
    token = _token_problem(resource, snapshot)
    if token is not None:
        return _problem(snapshot, token, now)
    replicas = desired_replicas(resource, previous.desired_replicas)
    try:
        assert snapshot.model is not None  # a valid spec names a model
        plan = plan_deployment(resource.spec, snapshot.model, snapshot.pools, settings.gpu_prices).require_chosen()
        rendered = render_all(resource, plan, settings, replicas=replicas)
    except SizingError as exc:
        return _problem(snapshot, _problem_of(exc), now)
    except UnsupportedSpec as exc:
        return _problem(snapshot, Problem("UnsupportedSpec", str(exc)), now)
    too_small = cache_too_small(resource.spec, plan)
    if too_small is not None:
        return _problem(snapshot, Problem(CACHE_TOO_SMALL, too_small), now)

    children = plan_children(body, rendered, snapshot.children)
    events = []
    if previous.plan != plan:
        events.append(Event("Normal", "PlanChosen", plan.reason or plan_summary(plan)))
    if previous.plan is not None and previous.plan.pool != plan.pool and previous.plan.pool not in {
            p.name for p in snapshot.pools}:
        events.append(Event("Normal", "PoolChanged", f"Moved from pool {previous.plan.pool} to {plan.pool}: pool "
                            f"{previous.plan.pool} has no nodes now (it comes back into the plan when they return)."))
    events += [Event("Normal", "RolloutStarted", f"Rolling out {key} on {plan_summary(plan)}.")
               for key in children.rollouts]
    events += [Event("Normal", "ChildDeleted", f"Deleted {ref.kind}/{ref.name}: no longer needed by the spec.")
               for ref in children.delete]
    name = body["metadata"]["name"]
    deployment = children.after.get(f"Deployment/{name}")
    seen = Observation(
        generation=generation,
        plan=plan,
        desired_replicas=replicas,
        deployment=deployment,
        selector=selector_string(name),
        endpoint=endpoint(resource),
        blockers=blockers(children.after),
        problem=_trouble_problem(children.conflicts) or unschedulable(snapshot.pods, deployment, plan),
    )
    status = derive_status(seen, previous, now)
    events += _warning_if_new(previous, status, seen.problem)
    return Intent(
        apply=children.apply,
        delete=children.delete,
        prune=children.prune,
        status=status if status != previous else None,
        events=tuple(events),
        rollouts=children.rollouts,
        plan=plan,
        creates=children.creates,
        observation=seen,
    )


def after_troubles(snapshot: Snapshot, intent: Intent, troubles: list[ChildTrouble], now: str) -> Intent:
    """The intent's status and events once ``act`` met children it could not apply (pure)."""
    if not troubles or intent.observation is None:
        return intent
    previous = read_status(snapshot.previous_status)
    seen = replace(intent.observation, problem=_trouble_problem(tuple(troubles)))
    status = derive_status(seen, previous, now)
    events = (*(e for e in intent.events if e.type != "Warning"), *_warning_if_new(previous, status, seen.problem))
    return replace(intent, status=status if status != previous else None, events=events, observation=seen)


def _token_problem(resource: LLMDeployment, snapshot: Snapshot) -> Problem | None:
    """A token Secret must exist and have opted in (``api.hub_token``) before any pod may mount it."""
    ref = resource.spec.model.token_secret_ref
    if ref is None:
        return None
    if snapshot.token_secret_labels is None:
        return Problem("TokenSecretNotFound", f"Secret {ref.name} (spec.model.tokenSecretRef) does not exist in "
                       f"namespace {resource.metadata['namespace']}: create it, or remove tokenSecretRef")
    refusal = hub_token_refusal(ref, snapshot.token_secret_labels)
    return None if refusal is None else Problem(TOKEN_SECRET_NOT_ALLOWED, refusal)


def unschedulable(pods: tuple[dict[str, Any], ...], deployment: dict[str, Any] | None,
                  plan: Plan) -> Problem | None:
    """The scheduler's own words for engine pods it cannot place; ``RolloutBlocked`` when they are a rollout's
    new pods (the old ones keep serving, but the rollout cannot finish)."""
    stuck = [f"pod {pod['metadata']['name']}: {message}" for pod in pods
             if (message := unschedulable_pod(pod)) is not None]
    if not stuck:
        return None
    status = (deployment or {}).get("status") or {}
    rolling = status.get("updatedReplicas", 0) < (deployment or {}).get("spec", {}).get("replicas", 0) and (
        status.get("readyReplicas", 0) > 0)
    need = (f"Each replica needs {plan.gpus_per_replica} nvidia.com/gpu on one node of pool {plan.pool} "
            f"({plan.gpu_product}).")
    if rolling:
        return Problem("RolloutBlocked", f"The rollout cannot place its new pods: {'; '.join(stuck)}. {need} "
                       "Free GPUs in the pool (or add nodes), or set spec.rollout.replaceInPlace: true "
                       "(one replica down at a time, no spare GPUs needed).")
    return Problem("Unschedulable", f"The scheduler cannot place engine pods: {'; '.join(stuck)}. {need} "
                   "Check spec.placement against the pool's nodes, or free GPUs in the pool.")


def unschedulable_pod(pod: Mapping[str, Any]) -> str | None:
    """The scheduler's message for a live pod it cannot place; None for any other pod."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return None
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (condition.get("type"), condition.get("status"), condition.get("reason")) == (
                "PodScheduled", "False", "Unschedulable"):
            return str(condition.get("message") or "no reason given")
    return None


def _trouble_problem(troubles: tuple[ChildTrouble, ...]) -> Problem | None:
    if not troubles:
        return None
    return Problem(troubles[0].reason, " ".join(t.message for t in troubles))


def _warning_if_new(previous: LLMDeploymentStatus, status: LLMDeploymentStatus,
                    problem: Problem | None) -> list[Event]:
    """A Warning when the Degraded condition starts saying something new, not on every status move."""
    if problem is None:
        return []
    before = next((c for c in previous.conditions if c.type == "Degraded"), None)
    now = next(c for c in status.conditions if c.type == "Degraded")
    if before is not None and (before.status, before.reason, before.message) == (now.status, now.reason, now.message):
        return []
    return [Event("Warning", problem.reason, problem.message)]


def desired_replicas(resource: LLMDeployment, decided: int | None) -> int:
    """spec.replicas rules unless the autoscaler is on; then its last decision, within bounds."""
    spec = resource.spec
    if not spec.autoscaling.enabled:
        return spec.replicas
    decided = decided or spec.autoscaling.min_replicas
    return max(spec.autoscaling.min_replicas, min(spec.autoscaling.max_replicas, decided))


def plan_children(owner: dict[str, Any], rendered: list[dict[str, Any]], live: dict[str, dict[str, Any]]) -> _Children:
    """Which rendered children to apply (missing or drifted), which live ones to delete, and each child's
    expected state once that is done (for the status: a Deployment whose spec is applied has a new generation)."""
    apply, rollouts, after, creates, conflicts, prune = [], [], {}, set(), [], []
    for obj in rendered:
        key = _key(obj)
        desired = with_owner(obj, owner)
        current = live.get(key)
        if current is not None and not owned_by(current, owner):
            conflicts.append(name_conflict(key, current))
            continue
        if current is None:
            creates.add(key)
        elif obj["kind"] in PRUNABLE_KINDS and (added := foreign_additions(current, desired, FIELD_MANAGER)):
            prune.append(Prune(obj["apiVersion"], obj["kind"], obj["metadata"]["name"],
                               tuple(removal_patch(current, added))))
            current = without(current, added)  # what the apply below is judged against
        if differs(desired, current):
            apply.append(desired)
            if current is not None and "template" in desired["spec"] and (
                _template_hash(current) != _template_hash(desired)
            ):
                rollouts.append(key)
            after[key] = _expected_after_apply(desired, current)
        elif current is not None:
            after[key] = current
    rendered_keys = {_key(obj) for obj in rendered}
    delete = tuple(
        ref for ref in child_refs(owner["metadata"]["name"])
        if f"{ref.kind}/{ref.name}" not in rendered_keys and owned_by(live.get(f"{ref.kind}/{ref.name}"), owner)
    )
    return _Children(apply=tuple(apply), delete=delete, rollouts=tuple(rollouts), after=after,
                     creates=frozenset(creates), conflicts=tuple(conflicts), prune=tuple(prune))


def name_conflict(key: str, holder: dict[str, Any]) -> ChildTrouble:
    """The operator never adopts an object it did not create: say whose it is and what to change."""
    owners = [f"{o.get('kind')}/{o.get('name')}" for o in holder.get("metadata", {}).get("ownerReferences") or []]
    whose = f"owned by {', '.join(owners)}" if owners else "not created by modelfleet"
    return ChildTrouble(key, "NameConflict", f"{key} already exists and is {whose}; the operator will not take it "
                        "over. Rename the LLMDeployment, or delete or rename that object.")


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    metadata = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": metadata}


def blockers(children: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """Children that keep replicas from starting, with what to change."""
    found = []
    for key, obj in children.items():
        if key.startswith("PersistentVolumeClaim/") and (obj.get("status") or {}).get("phase") == "Pending":
            found.append(
                f"{key} is Pending: no volume is bound. Does a StorageClass provision ReadWriteMany volumes? "
                "Set spec.cache.storageClassName, or use cache mode nodeLocal."
            )
    return tuple(found)


def plan_summary(plan: Plan) -> str:
    return f"{plan.gpus_per_replica}x {plan.gpu_product} (TP {plan.tensor_parallel_size}) on pool {plan.pool}"


def _problem(snapshot: Snapshot, problem: Problem, now: str) -> Intent:
    """The spec cannot be served: report it, create nothing, keep what already serves."""
    previous = read_status(snapshot.previous_status)
    name = snapshot.body["metadata"]["name"]
    seen = Observation(
        generation=snapshot.body["metadata"].get("generation", 0),
        problem=problem,
        deployment=snapshot.children.get(f"Deployment/{name}"),
        desired_replicas=previous.desired_replicas,
    )
    status = derive_status(seen, previous, now)
    if status == previous:
        return Intent()
    return Intent(status=status, events=tuple(_warning_if_new(previous, status, problem)))


def _problem_of(exc: Exception) -> Problem:
    return Problem(getattr(exc, "reason", type(exc).__name__), str(exc))


def _expected_after_apply(desired: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The child as the API server will hold it: our fields, its status; a new spec means a new generation."""
    if current is None:
        return {**desired, "metadata": {**desired["metadata"], "generation": 1}, "status": {}}
    generation = current.get("metadata", {}).get("generation", 0)
    if differs({"spec": desired.get("spec")}, {"spec": current.get("spec")}):
        generation += 1
    return {**current, "metadata": {**current["metadata"], "generation": generation}}


def owned_by(live: dict[str, Any] | None, owner: dict[str, Any]) -> bool:
    """Only what this LLMDeployment owns may be deleted; never touch an object someone else owns."""
    owners = (live or {}).get("metadata", {}).get("ownerReferences") or []
    return any(o.get("uid") == owner["metadata"]["uid"] for o in owners)


def _template_hash(obj: dict[str, Any]) -> Any:
    """The pod template's hash: it changes exactly when a rollout starts."""
    return (obj.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(
        POD_SPEC_HASH_ANNOTATION
    )


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"
