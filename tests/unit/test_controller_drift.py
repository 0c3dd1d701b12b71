"""The drift check that keeps a no-op reconcile from writing."""

from __future__ import annotations

from modelfleet.controller.decide.drift import differs

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "m", "namespace": "llm", "labels": {"a": "1"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {"name": "engine", "args": ["--x"], "resources": {"limits": {"memory": "1024Mi", "cpu": "0.5"}}}
                ],
                "volumes": [],
            }
        },
    },
}


def live_copy(**spec_changes):
    """What the API server returns: defaults added, quantities normalized."""
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "m", "namespace": "llm", "labels": {"a": "1", "added-by-someone": "x"},
            "uid": "u", "resourceVersion": "7", "generation": 3, "managedFields": [],
        },
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "engine", "args": ["--x"], "imagePullPolicy": "IfNotPresent",
                            "resources": {"limits": {"memory": "1Gi", "cpu": "500m"}},
                        }
                    ],
                    "restartPolicy": "Always",
                }
            },
        },
        "status": {"readyReplicas": 2},
    }
    live["spec"].update(spec_changes)
    return live


def test_a_missing_object_differs():
    assert differs(DESIRED, None)


def test_defaults_normalized_quantities_and_others_labels_are_no_drift():
    assert not differs(DESIRED, live_copy())


def test_a_changed_field_we_set_is_drift():
    assert differs(DESIRED, live_copy(replicas=5))


def test_a_removed_list_item_is_drift():
    live = live_copy()
    live["spec"]["template"]["spec"]["containers"][0]["args"] = []
    assert differs(DESIRED, live)


def test_a_removed_label_is_drift():
    live = live_copy()
    del live["metadata"]["labels"]["a"]
    assert differs(DESIRED, live)


def test_a_different_quantity_is_drift():
    live = live_copy()
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "2Gi"
    assert differs(DESIRED, live)


def test_booleans_are_not_quantities():
    assert differs({"spec": {"paused": True}}, {"spec": {"paused": 1}})
