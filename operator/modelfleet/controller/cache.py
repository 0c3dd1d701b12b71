"""What the operator knows of the cluster: objects fed by kopf's watches, read without a request.

kopf keeps one watch per kind (LLMDeployments, every child kind, the engine
pods, nodes) and hands each event to a handler that stores the object here;
a reconcile then reads the LLMDeployment, its children, its pods and the
nodes from memory, so it sends only the requests that change something.

The operator's own writes are stored from the API server's answer at once,
so the next reconcile does not act on the state before its own write. A
watch event that arrives later with the same or an older ``resourceVersion``
is ignored and queues nothing (resourceVersions are etcd revisions;
Kubernetes says to treat them as opaque, so a value that is not an integer
always counts as news).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

Key = tuple[str, str, str]  # (kind, namespace, name); namespace "" for cluster-scoped objects


def key_of(obj: dict[str, Any]) -> Key:
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace") or "", metadata["name"]


class ClusterCache:
    """A thread-safe store of the objects the watches delivered, by kind, namespace and name."""

    def __init__(self, index_label: str, managed_fields_of: frozenset[str] = frozenset(),
                 own_manager: str = "") -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._index_label = index_label
        self._managed_fields_of = managed_fields_of  # kinds whose managedFields are kept (the children's)
        self._own_manager = own_manager  # whose entries are dropped even there: takeback reads the others only
        # (kind, namespace, label value) -> names: an LLMDeployment's pods without a scan of every pod.
        self._by_label: defaultdict[Key, set[str]] = defaultdict(set)
        self._versions: defaultdict[str, int] = defaultdict(int)  # by kind: moves on every change

    def store(self, obj: dict[str, Any]) -> bool:
        """Keep ``obj`` unless what is stored is as new or newer; True when it was news.

        The watch's echo of the operator's own write is not news (its answer was stored already), so
        it queues no reconcile. ``managedFields`` are kept only for the kinds that need them (the
        children: ``takeback`` reads them); they are a large part of every pod and node."""
        key = key_of(obj)
        obj = _slim(obj) if key[0] == "Pod" else obj
        obj = _managed_fields_kept(obj, key[0] in self._managed_fields_of, self._own_manager)
        with self._lock:
            current = self._objects.get(key)
            if current is not None and not _newer(obj, current):
                return False
            self._unindex(key, current)
            self._objects[key] = obj
            self._versions[key[0]] += 1
            label = ((obj["metadata"].get("labels") or {}).get(self._index_label))
            if label is not None:
                self._by_label[(key[0], key[1], label)].add(key[2])
            return True

    def forget(self, obj: dict[str, Any]) -> None:
        """Drop ``obj``, unless what is stored is newer (the object was created again since)."""
        key = key_of(obj)
        with self._lock:
            current = self._objects.get(key)
            if current is None or _newer(current, obj):
                return
            self._unindex(key, self._objects.pop(key))
            self._versions[key[0]] += 1

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._objects.get((kind, namespace, name))

    def labelled(self, kind: str, namespace: str, value: str) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` whose index label has ``value``, sorted by name."""
        with self._lock:
            names = sorted(self._by_label.get((kind, namespace, value), ()))
            return [self._objects[(kind, namespace, n)] for n in names]

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [obj for (k, _, _), obj in self._objects.items() if k == kind]

    def keys(self, kind: str) -> Iterable[tuple[str, str]]:
        with self._lock:
            return [(ns, name) for (k, ns, name) in self._objects if k == kind]

    def version(self, kind: str) -> int:
        """A number that changes whenever an object of ``kind`` is stored or forgotten."""
        with self._lock:
            return self._versions[kind]

    def _unindex(self, key: Key, obj: dict[str, Any] | None) -> None:
        if obj is None:
            return
        label = (obj["metadata"].get("labels") or {}).get(self._index_label)
        if label is not None:
            names = self._by_label.get((key[0], key[1], label))
            if names is not None:
                names.discard(key[2])
                if not names:
                    del self._by_label[(key[0], key[1], label)]


def _newer(new: dict[str, Any], current: dict[str, Any]) -> bool:
    try:
        return int(new["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return True


def _managed_fields_kept(obj: dict[str, Any], keep: bool, own_manager: str) -> dict[str, Any]:
    """Only other managers' entries of the object itself (what ``takeback`` reads), and only where kept."""
    entries = obj.get("metadata", {}).get("managedFields")
    if entries is None:
        return obj
    kept = [e for e in entries if keep and e.get("manager") != own_manager and not e.get("subresource")]
    metadata = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {**obj, "metadata": {**metadata, "managedFields": kept} if kept else metadata}


def _slim(pod: dict[str, Any]) -> dict[str, Any]:
    """What the operator reads of a pod (its name, labels, address and conditions, and each container's name and
    state, which time its cold start): a thousand pods' specs and full container statuses (images, IDs, probes'
    last states) are most of the cache's memory otherwise."""
    status = pod.get("status") or {}
    slim = {k: status[k] for k in ("phase", "podIP", "conditions") if k in status}
    for key in ("initContainerStatuses", "containerStatuses"):
        if status.get(key):
            slim[key] = [{"name": c.get("name"), "state": c.get("state") or {}} for c in status[key]]
    return {"apiVersion": pod.get("apiVersion", "v1"), "kind": "Pod", "metadata": pod["metadata"], "status": slim}
