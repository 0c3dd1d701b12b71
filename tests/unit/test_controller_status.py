"""Status derivation: conditions a person can act on, stable when nothing changes."""

from __future__ import annotations

import pytest

from modelfleet.api import LLMDeploymentStatus
from modelfleet.controller.decide.status import Observation, Problem, derive_status
from modelfleet.controller.observe import read_status

EMPTY = LLMDeploymentStatus()
T0, T1 = "2026-11-23T06:00:00Z", "2026-11-23T06:05:00Z"


def deployment(ready, updated=None, replicas=None, generation=1, observed=1, conditions=(), available=None):
    return {
        "metadata": {"generation": generation},
        "status": {
            "replicas": replicas if replicas is not None else ready,
            "readyReplicas": ready,
            "availableReplicas": available if available is not None else ready,
            "updatedReplicas": updated if updated is not None else ready,
            "observedGeneration": observed,
            "conditions": list(conditions),
        },
    }


def conditions(status):
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_spec_that_fits_nowhere_is_degraded_and_not_deployed():
    seen = Observation(generation=2, problem=Problem("NoFit", "needs 93.4 GiB per GPU; NVIDIA-L4 has 21.6"))
    status = derive_status(seen, EMPTY, T0)
    assert conditions(status) == {
        "Ready": ("False", "NotDeployed"),
        "Progressing": ("False", "NotDeployed"),
        "Degraded": ("True", "NoFit"),
    }
    assert status.observed_generation == 2
    assert "93.4 GiB" in next(c.message for c in status.conditions if c.type == "Degraded")
    assert all(c.observed_generation == 2 for c in status.conditions)


def test_all_replicas_ready():
    seen = Observation(generation=1, desired_replicas=2, deployment=deployment(2), selector="a=b", endpoint="http://m:8000")
    status = derive_status(seen, EMPTY, T0)
    assert conditions(status)["Ready"] == ("True", "AllReplicasReady")
    assert conditions(status)["Progressing"] == ("False", "Complete")
    assert (status.replicas, status.ready_replicas, status.desired_replicas) == (2, 2, 2)
    assert status.selector == "a=b" and status.endpoint == "http://m:8000"


def test_a_rollout_is_progressing_and_still_ready_replicas_are_counted():
    seen = Observation(generation=3, desired_replicas=2, deployment=deployment(2, updated=1, replicas=3))
    status = derive_status(seen, EMPTY, T0)
    assert conditions(status)["Progressing"] == ("True", "RollingOut")
    assert conditions(status)["Ready"] == ("True", "AllReplicasReady")


def test_a_stalled_rollout_is_degraded():
    stalled = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": "took too long"}
    seen = Observation(generation=1, desired_replicas=1, deployment=deployment(0, updated=1, conditions=[stalled]))
    assert conditions(derive_status(seen, EMPTY, T0))["Degraded"] == ("True", "RolloutStalled")


def test_unchanged_world_gives_unchanged_status():
    seen = Observation(generation=1, desired_replicas=1, deployment=deployment(1))
    first = derive_status(seen, EMPTY, T0)
    second = derive_status(seen, first, T1)
    assert second == first


def test_transition_time_moves_only_with_the_status():
    starting = derive_status(Observation(generation=1, desired_replicas=1, deployment=deployment(0)), EMPTY, T0)
    ready = derive_status(Observation(generation=1, desired_replicas=1, deployment=deployment(1)), starting, T1)
    times = {c.type: c.last_transition_time for c in ready.conditions}
    assert times == {"Ready": T1, "Progressing": T1, "Degraded": T0}


def test_fields_other_loops_own_survive():
    previous = read_status({"queueDepth": 3.5, "lastScaleTime": T0})
    status = derive_status(Observation(generation=1, desired_replicas=1, deployment=deployment(1)), previous, T1)
    assert status.queue_depth == 3.5 and status.last_scale_time == T0


def test_a_child_that_holds_replicas_back_is_named():
    seen = Observation(generation=1, desired_replicas=1, deployment=deployment(0, updated=1),
                       blockers=("PersistentVolumeClaim/m-cache is Pending: no volume is bound.",))
    progressing = next(c for c in derive_status(seen, EMPTY, T0).conditions if c.type == "Progressing")
    assert progressing.reason == "ReplicasStarting"
    assert "PersistentVolumeClaim/m-cache is Pending" in progressing.message


def test_a_status_an_older_operator_wrote_that_no_longer_parses_reads_as_empty():
    assert read_status({"plan": {"weightsGiB": 13.5}}) == EMPTY
    assert read_status(None) == EMPTY


# --- the conditions agree with each other, in every state the controller can see -------------------------------

FAILED_CREATE = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                 "message": 'pods "m-1" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes'}
UNSCHEDULABLE = Problem("Unschedulable", "The scheduler cannot place engine pods: 0/3 nodes are available.")
REFUSED = Problem("ChildRefused", "The API server refused Deployment/m: spec.template.spec.containers[0].image")
STATES = {
    # name: (observation, Ready, Progressing, Degraded)
    "no Deployment, a problem": (Observation(generation=1, problem=REFUSED), ("False", "NotDeployed"),
                                 ("False", "NotDeployed"), ("True", "ChildRefused")),
    "pods forbidden by admission": (
        Observation(generation=1, desired_replicas=1, deployment=deployment(0, updated=0, conditions=[FAILED_CREATE])),
        ("False", "PodsCannotRun"), ("False", "Blocked"), ("True", "ReplicaFailure")),
    "pods unschedulable": (
        Observation(generation=1, desired_replicas=1, problem=UNSCHEDULABLE, deployment=deployment(0, updated=1,
                                                                                                replicas=1)),
        ("False", "PodsCannotRun"), ("False", "Blocked"), ("True", "Unschedulable")),
    "a surge rollout mid-way: the new pod loads, the old one serves": (
        Observation(generation=2, desired_replicas=1, deployment=deployment(1, updated=1, replicas=2)),
        ("True", "AllReplicasReady"), ("True", "RollingOut"), ("False", "AsExpected")),
    "a rollout blocked: its new pod cannot be placed": (
        Observation(generation=2, desired_replicas=1, deployment=deployment(1, updated=1, replicas=2),
                    problem=Problem("RolloutBlocked", "The rollout cannot place its new pods.")),
        ("True", "AllReplicasReady"), ("False", "Blocked"), ("True", "RolloutBlocked")),
    "first replicas loading": (
        Observation(generation=1, desired_replicas=2, deployment=deployment(0, updated=2, replicas=2)),
        ("False", "ReplicasNotReady"), ("True", "ReplicasStarting"), ("False", "AsExpected")),
    "the controller has not seen the new template": (
        Observation(generation=3, desired_replicas=1, deployment=deployment(1, generation=3, observed=2)),
        ("True", "AllReplicasReady"), ("True", "RollingOut"), ("False", "AsExpected")),
    "all served": (Observation(generation=1, desired_replicas=2, deployment=deployment(2)),
                   ("True", "AllReplicasReady"), ("False", "Complete"), ("False", "AsExpected")),
    "scaled to zero": (Observation(generation=1, desired_replicas=0, deployment=deployment(0)),
                       ("False", "ScaledToZero"), ("False", "Complete"), ("False", "AsExpected")),
}


@pytest.mark.parametrize("name", STATES)
def test_ready_progressing_and_degraded_agree(name):
    seen, ready, progressing, degraded = STATES[name]
    status = derive_status(seen, EMPTY, T0)
    assert conditions(status) == {"Ready": ready, "Progressing": progressing, "Degraded": degraded}
    messages = {c.type: c.message for c in status.conditions}
    if degraded[0] == "True":  # never "loading" while something a person must fix holds the pods back
        assert "loading" not in messages["Ready"] and "loading" not in messages["Progressing"], messages
    if progressing == ("False", "Blocked"):
        assert "cannot" in messages["Progressing"], messages


def test_a_blocked_rollout_still_names_the_child_that_holds_it_back():
    pending = "PersistentVolumeClaim/m-cache is Pending: no volume is bound."
    seen = Observation(generation=1, desired_replicas=1, deployment=deployment(0, updated=1, replicas=1),
                       problem=UNSCHEDULABLE, blockers=(pending,))
    progressing = next(c for c in derive_status(seen, EMPTY, T0).conditions if c.type == "Progressing")
    assert progressing.reason == "Blocked" and "m-cache is Pending" in progressing.message


# What `kubectl get llmd` shows in its Health and Reason columns for each of the states above.
COLUMNS = {
    "no Deployment, a problem": ("Degraded", "ChildRefused"),
    "pods forbidden by admission": ("Degraded", "ReplicaFailure"),
    "pods unschedulable": ("Degraded", "Unschedulable"),
    "a surge rollout mid-way: the new pod loads, the old one serves": ("Healthy", "AllReplicasReady"),
    "a rollout blocked: its new pod cannot be placed": ("Degraded", "RolloutBlocked"),
    "first replicas loading": ("Progressing", "ReplicasStarting"),
    "the controller has not seen the new template": ("Healthy", "AllReplicasReady"),
    "all served": ("Healthy", "AllReplicasReady"),
    "scaled to zero": ("Healthy", "ScaledToZero"),
}


@pytest.mark.parametrize("name", STATES)
def test_the_table_columns_name_the_trouble(name):
    status = derive_status(STATES[name][0], EMPTY, T0)
    assert (status.health, status.reason) == COLUMNS[name]


# --- minReplicas 0: Idle at zero, Waking while a held request waits for the first replica ---------------------

def test_an_autoscaled_fleet_at_zero_is_idle_and_healthy():
    seen = Observation(generation=1, desired_replicas=0, deployment=deployment(0), autoscaled=True)
    status = derive_status(seen, EMPTY, T0)
    assert conditions(status)["Ready"] == ("False", "Idle")
    assert (status.health, status.reason) == ("Healthy", "Idle")
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert "router holds the next request" in ready.message


def test_a_fleet_waking_from_zero_says_so_and_how_many_requests_wait():
    seen = Observation(generation=1, desired_replicas=1, deployment=deployment(0, updated=1, replicas=1),
                       autoscaled=True)
    status = derive_status(seen, EMPTY.model_copy(update={"held_requests": 2}), T0)
    assert conditions(status)["Ready"] == ("False", "Waking")
    assert conditions(status)["Progressing"] == ("True", "Waking")
    assert (status.health, status.reason) == ("Progressing", "Waking")
    assert all("2 request(s)" in c.message for c in status.conditions if c.reason == "Waking")


def test_once_a_replica_serves_the_fleet_is_no_longer_waking():
    seen = Observation(generation=1, desired_replicas=2, deployment=deployment(1, updated=2, replicas=2),
                       autoscaled=True)
    status = derive_status(seen, EMPTY.model_copy(update={"held_requests": 2}), T0)
    assert "Waking" not in {c.reason for c in status.conditions}
