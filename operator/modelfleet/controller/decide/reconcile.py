"""The reconcile's decision (pure): from a ``Snapshot`` to what the cluster should become.

``decide`` returns an ``Intent``: the children to server-side apply (those
missing or drifted from what is rendered), the children to delete (ours, no
longer rendered), the status writes and the events. It reads no clock
(``now`` is passed in) and sends nothing, so every decision is table-tested
without a cluster (tests/unit/test_controller_decide.py); ``act`` carries the
intent out. What act meets on the way (a name someone else holds, a child the
API server refuses) comes back here: ``claim`` and ``after_troubles``.

Level-based: each call computes the whole desired state from the spec and
the snapshot, so a missed event, a restart or a concurrent edit converges on
the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from modelfleet.api import InvalidSpec, LLMDeployment, LLMDeploymentStatus, OperatorSettings, Plan
from modelfleet.api.hub_token import (
    FORBIDDEN_REASON as TOKEN_SECRET_FORBIDDEN,
    REASON as TOKEN_SECRET_NOT_ALLOWED,
    SecretsForbidden,
    forbidden_refusal,
    hub_token_refusal,
)
from modelfleet.catalog import ModelUnavailable
from modelfleet.render import (
    UnsupportedSpec,
    endpoint,
    render_all,
    routed,
    router_available,
    router_deployment_name,
    selector_string,
)
from modelfleet.sizing import SizingError, plan_deployment
from modelfleet.sizing.cache_fit import REASON as CACHE_TOO_SMALL, cache_too_small

from .children import blockers, key_of, plan_children
from .conditions import find
from .fields import RECONCILE_WRITERS, writes
from .image_policy import image_refusal
from .intent import ChildTrouble, Event, Intent, Observation, Problem
from .ownership import held_by_others
from .pod_security import RESTRICTED, choose_cache_mode
from .pods import failing_routers, unschedulable
from .replicas import desired_replicas
from .snapshot import Snapshot
from .status import derive_status


def decide(snapshot: Snapshot, settings: OperatorSettings, now: str) -> Intent:
    """The intent for one LLMDeployment."""
    resource = snapshot.resource
    if isinstance(resource, InvalidSpec):
        return _problem(snapshot, Problem("InvalidSpec", str(resource)), now)
    if isinstance(snapshot.model, ModelUnavailable):
        return _problem(snapshot, _problem_of(snapshot.model), now)
    token = _token_problem(resource, snapshot)
    if token is not None:
        return _problem(snapshot, token, now)
    refused_image = image_refusal(resource, settings)
    if refused_image is not None:
        return _problem(snapshot, refused_image, now)
    choice = choose_cache_mode(resource, snapshot.ref.namespace, snapshot.pod_security)
    if isinstance(choice, Problem):
        return _problem(snapshot, choice, now)
    resource = choice.resource
    previous = snapshot.status
    replicas = desired_replicas(resource.spec, previous.desired_replicas, snapshot.deployment)
    try:
        assert snapshot.model is not None  # a valid spec names a model, and observe read it
        plan = plan_deployment(resource.spec, snapshot.model, snapshot.pools, settings.gpu_prices).require_chosen()
        router = snapshot.children.get(f"Deployment/{router_deployment_name(snapshot.ref.name)}")
        rendered = render_all(resource, plan, settings, replicas=replicas,
                              restricted=snapshot.pod_security == RESTRICTED, router_ready=router_available(router),
                              inference_pools_served=snapshot.inference_pools_served)
    except SizingError as exc:
        return _problem(snapshot, _problem_of(exc), now)
    except UnsupportedSpec as exc:
        return _problem(snapshot, Problem("UnsupportedSpec", str(exc)), now)
    too_small = cache_too_small(resource.spec, plan)
    if too_small is not None:
        return _problem(snapshot, Problem(CACHE_TOO_SMALL, too_small), now)

    children = plan_children(snapshot.ref, rendered, snapshot.children)
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
    name = snapshot.ref.name
    deployment = children.after.get(f"Deployment/{name}")
    seen = Observation(
        generation=snapshot.ref.generation,
        plan=plan,
        desired_replicas=replicas,
        deployment=deployment,
        selector=selector_string(name),
        endpoint=endpoint(resource),
        blockers=blockers(children.after),
        problem=_trouble_problem(children.conflicts) or unschedulable(snapshot.pods, deployment, plan),
        autoscaled=resource.spec.autoscaling.enabled,
        cache_mode=choice.chosen,
        router_problem=failing_routers(snapshot.routers, router_available(router)) if routed(resource.spec) else None,
    )
    status = derive_status(seen, previous, now)
    status_writes = writes(previous, status, RECONCILE_WRITERS, seen.autoscaled)
    lasting = [p for p in (seen.problem, seen.router_problem) if p is not None and not p.transient]
    events += _warning_if_new(previous, status, lasting[0] if lasting else None)
    return Intent(
        apply=children.apply,
        delete=children.delete,
        prune=children.prune,
        status=status if status_writes else None,
        status_writes=status_writes,
        events=tuple(events),
        rollouts=children.rollouts,
        plan=plan,
        creates=children.creates,
        observation=seen,
    )


def claim(snapshot: Snapshot, intent: Intent,
          held: Mapping[str, dict[str, Any] | None]) -> tuple[Intent, tuple[ChildTrouble, ...]]:
    """The intent without the children whose names someone else's object holds (``held``: the objects that have
    the names of ``intent.creates``, as act's lookup found them), and a NameConflict for each."""
    conflicts = held_by_others(held, snapshot.ref)
    taken = {c.key for c in conflicts}
    return replace(intent, apply=tuple(o for o in intent.apply if key_of(o) not in taken)), conflicts


def after_troubles(snapshot: Snapshot, intent: Intent, troubles: list[ChildTrouble], now: str) -> Intent:
    """The intent's status and events once act met children it could not apply (pure)."""
    if not troubles or intent.observation is None:
        return intent
    previous = snapshot.status
    seen = replace(intent.observation, problem=_trouble_problem(tuple(troubles)))
    status = derive_status(seen, previous, now)
    status_writes = writes(previous, status, RECONCILE_WRITERS, seen.autoscaled)
    events = (*(e for e in intent.events if e.type != "Warning"), *_warning_if_new(previous, status, seen.problem))
    return replace(intent, status=status if status_writes else None, status_writes=status_writes, events=events,
                   observation=seen)


def plan_summary(plan: Plan) -> str:
    return f"{plan.gpus_per_replica}x {plan.gpu_product} (TP {plan.tensor_parallel_size}) on pool {plan.pool}"


def _token_problem(resource: LLMDeployment, snapshot: Snapshot) -> Problem | None:
    """A token Secret must exist and have opted in (``api.hub_token``) before any pod may mount it."""
    ref = resource.spec.model.token_secret_ref
    if ref is None:
        return None
    if isinstance(snapshot.token_secret_labels, SecretsForbidden):
        return Problem(TOKEN_SECRET_FORBIDDEN, forbidden_refusal(ref, snapshot.ref.namespace,
                                                                 snapshot.token_secret_labels.reader))
    if snapshot.token_secret_labels is None:
        return Problem("TokenSecretNotFound", f"Secret {ref.name} (spec.model.tokenSecretRef) does not exist in "
                       f"namespace {snapshot.ref.namespace}: create it, or remove tokenSecretRef")
    refusal = hub_token_refusal(ref, snapshot.token_secret_labels)
    return None if refusal is None else Problem(TOKEN_SECRET_NOT_ALLOWED, refusal)


def _trouble_problem(troubles: tuple[ChildTrouble, ...]) -> Problem | None:
    if not troubles:
        return None
    # A lasting trouble first: it is what a person must fix, and the reason the conditions give.
    ordered = sorted(troubles, key=lambda t: t.transient)
    return Problem(ordered[0].reason, " ".join(t.message for t in ordered), all(t.transient for t in troubles))


def _warning_if_new(previous: LLMDeploymentStatus, status: LLMDeploymentStatus,
                    problem: Problem | None) -> list[Event]:
    """A Warning when the Degraded condition starts saying something new, not on every status move; none for a
    problem that passes by itself."""
    if problem is None or problem.transient:
        return []
    before = find(previous.conditions, "Degraded")
    now = find(status.conditions, "Degraded")
    assert now is not None  # derive_status always says Degraded
    if before is not None and (before.status, before.reason, before.message) == (now.status, now.reason, now.message):
        return []
    return [Event("Warning", problem.reason, problem.message)]


def _problem(snapshot: Snapshot, problem: Problem, now: str) -> Intent:
    """The spec cannot be served: report it, create nothing, keep what already serves."""
    previous = snapshot.status
    seen = Observation(
        generation=snapshot.ref.generation,
        problem=problem,
        deployment=snapshot.deployment,
        desired_replicas=previous.desired_replicas,
        autoscaled=snapshot.autoscaled,
    )
    status = derive_status(seen, previous, now)
    status_writes = writes(previous, status, RECONCILE_WRITERS, seen.autoscaled)
    if not status_writes:
        return Intent()
    return Intent(status=status, status_writes=status_writes, events=tuple(_warning_if_new(previous, status, problem)))


def _problem_of(exc: Exception) -> Problem:
    return Problem(getattr(exc, "reason", type(exc).__name__), str(exc))
