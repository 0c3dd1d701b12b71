"""GitOps sees no drift: after the operator has reconciled, the applied manifest still matches.

Argo CD and Flux compare Git with the live object the way `kubectl diff` does
(a dry-run apply, then a comparison). The operator may write only status, and
its children carry owner references instead of the user's manifest, so
`kubectl diff` of an example must find nothing once the example is Ready,
whether it was applied client-side (last-applied annotation) or server-side
(managed fields).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.waiting import wait_for

pytestmark = pytest.mark.controlplane

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mistral-7b-vllm.yaml"
# One manager for apply and diff, as a GitOps controller has (Argo CD: argocd-controller).
FIELD_MANAGER = "gitops"
READY_TIMEOUT = 90


def reconciled_and_ready(cluster, namespace: str, name: str) -> bool:
    obj = json.loads(cluster.kubectl("get", "llmd", name, "-n", namespace, "-o", "json").stdout)
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    return status.get("observedGeneration") == obj["metadata"]["generation"] and ready.get("status") == "True"


@pytest.mark.parametrize("mode", [[], ["--server-side"]], ids=["client-side-apply", "server-side-apply"])
def test_kubectl_diff_is_empty_after_the_operator_reconciled(cluster, namespace, operator, mode):
    cluster.kubectl("apply", *mode, f"--field-manager={FIELD_MANAGER}", "-n", namespace, "-f", str(EXAMPLE))
    wait_for("the example Ready", lambda: reconciled_and_ready(cluster, namespace, "mistral-7b"), READY_TIMEOUT)

    diff = cluster.kubectl("diff", *mode, f"--field-manager={FIELD_MANAGER}", "-n", namespace, "-f", str(EXAMPLE),
                           check=False)
    # kubectl diff: 0 no differences, 1 differences, >1 kubectl or diff failed.
    assert (diff.returncode, diff.stdout, diff.stderr) == (0, "", "")
