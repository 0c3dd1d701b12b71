"""Hand additions to a child's spec are found from managedFields and removed in one patch (pure)."""

from __future__ import annotations

import copy
import json

from modelfleet.controller.decide.takeback import foreign_additions, removal_patch, without

DESIRED = {"spec": {"replicas": 2, "template": {"spec": {
    "containers": [{"name": "engine", "image": "vllm", "env": [{"name": "A", "value": "1"}]}]}}}}


def live_with_hand_edits() -> dict:
    live = copy.deepcopy(DESIRED)
    containers = live["spec"]["template"]["spec"]["containers"]
    containers[0]["env"].append({"name": "SNEAKY", "value": "x"})
    containers[0]["terminationMessagePath"] = "/dev/termination-log"  # an API server default: nobody owns it
    containers.append({"name": "sidecar", "image": "theirs"})
    live["spec"]["replicas"] = 7  # a value the operator renders: server-side apply takes it back
    live["metadata"] = {"resourceVersion": "77", "managedFields": [
        {"manager": "modelfleet", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
         "fieldsV1": {"f:status": {"f:replicas": {}}}},
        {"manager": "kubectl-patch", "operation": "Update", "fieldsV1": {"f:spec": {
            "f:replicas": {},
            "f:template": {"f:spec": {"f:containers": {
                'k:{"name":"engine"}': {"f:env": {'k:{"name":"SNEAKY"}': {".": {}, "f:name": {}, "f:value": {}}}},
                'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}},
            }}}}}},
    ]}
    return live


def test_what_another_manager_added_is_found_and_nothing_else():
    paths = foreign_additions(live_with_hand_edits(), DESIRED, "modelfleet")
    assert paths == [("spec", "template", "spec", "containers", 1),
                     ("spec", "template", "spec", "containers", 0, "env", 1)]


def test_one_patch_removes_them_only_from_the_version_read():
    live = live_with_hand_edits()
    paths = foreign_additions(live, DESIRED, "modelfleet")
    ops = removal_patch(live, paths)
    assert ops[:2] == [  # guarded by what is removed, not by the resourceVersion status writes move
        {"op": "test", "path": "/spec/template/spec/containers/1", "value": {"name": "sidecar", "image": "theirs"}},
        {"op": "test", "path": "/spec/template/spec/containers/0/env/1", "value": {"name": "SNEAKY", "value": "x"}}]
    assert [op["path"] for op in ops[2:] if op["op"] == "remove"] == ["/spec/template/spec/containers/1",
                                                                       "/spec/template/spec/containers/0/env/1"]
    after = without(live, paths)
    containers = after["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["engine"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}]
    assert containers[0]["terminationMessagePath"] == "/dev/termination-log"
    json.dumps(ops)  # a JSON patch is JSON


def test_an_object_only_the_operator_and_the_api_server_touched_has_nothing_to_remove():
    live = copy.deepcopy(DESIRED)
    live["metadata"] = {"resourceVersion": "1", "managedFields": [
        {"manager": "modelfleet", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]}
    assert foreign_additions(live, DESIRED, "modelfleet") == []
