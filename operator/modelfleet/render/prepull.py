"""The pre-pull DaemonSet (cache mode nodeLocal): weights on every pool node ahead of the replicas.

One pod per node the engine pods may land on (same node selector, GPU
toleration and node affinity) downloads the model into the node's cache
directory with the same ``prepull`` init container the engine pods run, then
idles. It requests no GPU, so it runs beside the replicas on a full node.
A node whose pre-pull pod is Ready has the weights: the DaemonSet's
``numberReady`` counts the nodes a replica starts on without downloading.
An engine pod that lands on a node first still fills the cache itself; the
two share the hub's file locks.
"""

from __future__ import annotations

from typing import Any

from modelfleet.api import LLMDeployment, OperatorSettings, Plan
from modelfleet.engines import profile_for

from . import security
from .cache import cache_volume, runtime_tmp_volume
from .labels import PREPULL, labels, metadata, selector_labels
from .names import prepull_daemonset_name
from .runtime_containers import cache_permissions_container, prepull_container
from .scheduling import node_affinity, pod_placement

# The container that keeps a finished pre-pull pod Running (a DaemonSet's
# pods cannot complete): the pause image every node already has for pod sandboxes.
IDLE_IMAGE = "registry.k8s.io/pause:3.10"


def idle_container() -> dict[str, Any]:
    return {
        "name": "idle",
        "image": IDLE_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": security.restricted(),
    }


def prepull_daemonset(resource: LLMDeployment, plan: Plan, settings: OperatorSettings) -> dict[str, Any]:
    spec = resource.spec
    name = resource.metadata["name"]
    pod_spec = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": security.pod_security_context(),
        **pod_placement(spec, plan, node_affinity(spec)),
        "initContainers": [
            cache_permissions_container(settings, None),  # the weights only: no engine runs here
            prepull_container(spec, profile_for(spec.engine.kind), settings),
        ],
        "containers": [idle_container()],
        "volumes": [cache_volume(resource, plan, settings), runtime_tmp_volume()],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(resource, prepull_daemonset_name(name), PREPULL),
        "spec": {
            "selector": {"matchLabels": selector_labels(name, PREPULL)},
            # Replacing a pre-pull pod takes nothing away from serving, so a
            # new revision is fetched on every node at once.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {"metadata": {"labels": labels(resource, PREPULL)}, "spec": pod_spec},
        },
    }
