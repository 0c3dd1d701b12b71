"""Security contexts, per container, as tight as each image allows.

- The modelfleet runtime containers (pre-pull, warm-up) and the DaemonSet's
  idle container run under the "restricted" Pod Security Standard: a fixed
  non-root user, no privilege escalation, no capabilities, the runtime's
  default seccomp profile and a read-only root filesystem.
- The engine containers run as root, because the vLLM and TGI images do
  (they write JIT-compiled kernels under ``/root`` and TGI its shard sockets
  under ``/tmp``), but with no capabilities at all (the engine port is
  unprivileged), no privilege escalation and the default seccomp profile.
- ``cache-permissions`` (nodeLocal, pvc) is the one container with
  capabilities: root with CHOWN and FOWNER alone, to hand the cache volume's
  root (a node directory the kubelet creates owned by root, or a shared
  volume whose driver ignores fsGroup) to the runtime user and group,
  group-writable.
"""

from __future__ import annotations

from typing import Any

# The runtime image's user (distroless "nonroot"); it owns what it writes to the cache.
RUNTIME_UID = 65532

RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}


def pod_security_context() -> dict[str, Any]:
    # fsGroup makes emptyDir and (where the CSI driver supports it) PVC caches
    # writable by the runtime user; OnRootMismatch skips the recursive chown
    # of a large, already-filled volume on every start.
    return {
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
        "fsGroup": RUNTIME_UID,
        "fsGroupChangePolicy": "OnRootMismatch",
    }


def restricted() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }


def engine() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }


def cache_owner() -> dict[str, Any]:
    return {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]},
        "seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP),
    }
