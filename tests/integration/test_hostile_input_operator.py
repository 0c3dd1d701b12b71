"""Hostile or unworkable input that passes the schema, on a real API server with the operator running:
each case is Degraded with a message that says what to change, and nothing is created (issue 16).

The schema-level cases (revision, env, cache size, tolerations, nodeSelector)
are refused by the API server itself: tests/integration/test_crd_on_apiserver.py
runs them from support.specs.INVALID. These are the ones only the operator
can judge, with the pure checks it calls: ``api.hub_token.hub_token_refusal``
and ``sizing.cache_fit.cache_too_small``.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from modelfleet.api.hub_token import FORBIDDEN_REASON, HUB_TOKEN_LABEL, REASON as TOKEN_REASON
from modelfleet.sizing.cache_fit import REASON as CACHE_REASON
from support.specs import small_mistral
from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

TIMEOUT = 60


def apply(cluster, namespace: str, document: dict) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))


def condition(cluster, namespace: str, name: str, kind: str) -> dict:
    obj = json.loads(cluster.kubectl("get", "llmd", name, "-n", namespace, "-o", "json").stdout)
    current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
    found = next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind), {})
    return found if current else {}


def children(cluster, namespace: str, name: str) -> list[str]:
    out = cluster.kubectl("get", "deployments,daemonsets,services,persistentvolumeclaims", "-n", namespace,
                          "-l", f"modelfleet.io/llmdeployment={name}", "-o", "name").stdout
    return out.split()


def secret(cluster, namespace: str, name: str, labels: dict[str, str]) -> None:
    apply(cluster, namespace, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": labels},
                               "stringData": {"token": "hf_not_a_real_token"}})


def test_a_token_secret_that_did_not_opt_in_is_refused_and_named(cluster, namespace, operator):
    secret(cluster, namespace, "someone-elses", {"team": "other"})
    document = copy.deepcopy(small_mistral("gated"))
    document["spec"]["model"]["tokenSecretRef"] = {"name": "someone-elses"}
    apply(cluster, namespace, document)
    # The chart's default (tokenSecretAccess: perNamespace): no Secret may be read here until the namespace's
    # admin runs the command the condition gives, as given.
    forbidden = wait_for("Degraded says how to let the operator read the Secret",
                         lambda: (c := condition(cluster, namespace, "gated", "Degraded")).get("reason")
                         == FORBIDDEN_REASON and c, TIMEOUT)
    assert children(cluster, namespace, "gated") == []
    command = forbidden["message"].rsplit(": ", 1)[1]
    assert command == (f"kubectl create rolebinding modelfleet-hub-token-reader -n {namespace} "
                       "--clusterrole=modelfleet-hub-token-reader --serviceaccount=modelfleet-system:modelfleet")
    cluster.kubectl(*command.split()[1:])

    degraded = wait_for("Degraded names the Secret",
                        lambda: (c := condition(cluster, namespace, "gated", "Degraded")).get("reason")
                        == TOKEN_REASON and c, TIMEOUT)
    assert degraded["status"] == "True"
    assert "Secret someone-elses" in degraded["message"] and f"{HUB_TOKEN_LABEL}=true" in degraded["message"]
    assert children(cluster, namespace, "gated") == []  # no pod ever mounted the Secret

    # Labelled, the same Secret is used.
    secret(cluster, namespace, "someone-elses", {HUB_TOKEN_LABEL: "true"})
    wait_for("Degraded cleared", lambda: condition(cluster, namespace, "gated", "Degraded").get("reason")
             != TOKEN_REASON and children(cluster, namespace, "gated"), TIMEOUT)


def test_a_cache_too_small_for_the_weights_is_degraded_with_the_size_it_needs(cluster, namespace, operator):
    document = copy.deepcopy(small_mistral("tiny-cache"))
    document["spec"]["cache"] = {"mode": "pvc", "size": "2Gi"}  # Mistral 7B's weights are about 13.5 GiB
    apply(cluster, namespace, document)
    degraded = wait_for("Degraded says the size",
                        lambda: (c := condition(cluster, namespace, "tiny-cache", "Degraded")).get("status") == "True"
                        and c, TIMEOUT)
    assert degraded["reason"] == CACHE_REASON
    assert "spec.cache.size 2Gi" in degraded["message"] and "give it at least" in degraded["message"]
    assert children(cluster, namespace, "tiny-cache") == []
