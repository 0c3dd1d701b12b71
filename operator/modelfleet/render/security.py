"""Security contexts, per container, as tight as each image allows.

- The modelfleet runtime containers (pre-pull, warm-up) and the DaemonSet's
  idle container run under the "restricted" Pod Security Standard: a fixed
  non-root user, no privilege escalation, no capabilities, the runtime's
  default seccomp profile and a read-only root filesystem.
- The engine containers run under "restricted" too, as the runtime user
  (the vLLM and TGI images would run as root): their home is the pod's
  scratch volume (``HOME``, where they write JIT-compiled kernels and
  caches; ``USER`` names the user, which has no passwd entry, for
  ``getpass``), TGI's shard sockets go to the image's ``/tmp`` (mode 1777),
  and the compile cache is handed to the user by ``cache-permissions``. The
  image's root filesystem stays writable (its ``/tmp``).
- ``cache-permissions`` (nodeLocal, pvc; not in a namespace enforcing
  "restricted") is the one container with capabilities: root with CHOWN and FOWNER alone, to hand the cache volume's
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
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
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
